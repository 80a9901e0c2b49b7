"""bench/perf/million.py: the bulk loader writes what the ORM would, and says which column it
cannot fill."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, select

from bench.perf import fleetstore, million


@pytest.fixture()
def url(tmp_path: Path) -> str:
    u = "sqlite:///%s" % (tmp_path / "m.db")
    fleetstore.prepare(u)
    return u


def test_populate__rows_readable_through_the_orm(url: str) -> None:
    from fleet.store.db import Database
    from fleet.store.models import Alarm, Device

    out = million.populate(url, 3000)
    rows = out["rows"]
    assert {k: rows[k] for k in ("sites", "assets", "devices", "alarms")} == {"sites": 3000, "assets": 3000, "devices": 3000, "alarms": 3}
    assert rows["calibration_records"] == 3000 and rows["work_orders"] == 250
    assert 1800 < rows["installs"] == rows["install_items"] < 2400 and rows["inspections"] == -(-rows["installs"] // 3)
    counts = fleetstore.counts(url)
    assert counts["devices"] == 3000 and counts["alarms_open"] == 3
    db = Database(url)
    try:
        with db.session() as s:
            dev = s.scalars(select(Device).where(Device.device_id == "gg-m%011x" % 7)).one()
            assert dev.site is not None and dev.site.township in million.TOWNSHIPS
            assert dev.product_model is not None and dev.product_model.code == fleetstore.BENCH_MODEL
            assert dev.last_report_at is not None and dev.last_report_at.tzinfo is not None
            offline = s.scalars(select(Device).where(Device.online.is_(False))).all()
            assert 0 < len(offline) < 200  # about 2 %
            assert all(d.last_offline_at is not None for d in offline)
            alarm = s.scalars(select(Alarm)).first()
            assert alarm is not None and alarm.state == "open" and alarm.opened_at.tzinfo is not None
    finally:
        db.dispose()


def test_populate__second_prepare_keeps_one_bench_model(url: str) -> None:
    fleetstore.prepare(url)
    from fleet.store.db import Database
    from sqlalchemy import text

    db = Database(url)
    try:
        with db.engine.connect() as c:
            assert c.execute(text("SELECT count(*) FROM product_models WHERE code = 'gg-bench'")).scalar() == 1
    finally:
        db.dispose()


def test_fill__not_null_without_default_is_named() -> None:
    t = Table("things", MetaData(), Column("id", Integer, primary_key=True), Column("name", String, nullable=False),
              Column("note", String), Column("n", Integer, nullable=False, default=3))
    assert million.BulkLoader._fill(t.c.note)() is None
    assert million.BulkLoader._fill(t.c.n)() == 3
    with pytest.raises(ValueError, match=r"things\.name is NOT NULL with no default"):
        million.BulkLoader._fill(t.c.name)


def test_device_ids_in__finds_ids_in_any_json_shape() -> None:
    body = b'{"data": [{"id": 1, "device_id": "gg-b00000000001"}, {"device_id" : "gg-b00000000002"}], "count": 2}'
    assert fleetstore.device_ids_in(body) == {"gg-b00000000001", "gg-b00000000002"}
    assert fleetstore.device_ids_in(b"[]") == set()

"""/api/v1/manufacturing (fleet/manufacturing) over the real HTTP API of a running fleet, fed by
`gasguard flash`'s own recorder (boards/flash.py): a maker's token records, an installer's is
refused 403, the same chip again is idempotent, a later flash of it updates the row."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from boards.flash import DeviceFacts, FlashError, RecordLog, flash_many, http_recorder, plan_flash
from boards.image import build_factory_image
from boards.registry import load_board
from fleet.manufacturing import service
from fleet.manufacturing.models import ManufacturingRecord
from fleet.store.models import AuditLog
from utils.esp_standin import standin_firmware
from utils.fleet_runtime import make_settings, running_fleet
from utils.security_auth import make_token

WHEN = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


def _runner(plan, progress, note) -> DeviceFacts:  # noqa: ANN001 - boards.flash.Runner
    progress(plan.image_size, plan.image_size)
    return DeviceFacts("esp32", "ESP32-D0WD-V3 (revision v3.1)", "24:0a:c4:00:09:0" + plan.port[-1], 0x400000)


def _quiet():  # noqa: ANN202
    import io

    from rich.console import Console

    return Console(file=io.StringIO())


def test_manufacturing__maker_records_installer_refused_resend_idempotent(sqlite_db, tmp_path: Path) -> None:  # noqa: ANN001
    board = load_board("esp32-mq4")
    fw = tmp_path / "fw.bin"
    fw.write_bytes(standin_firmware("esp32"))
    image = tmp_path / "factory.bin"
    build_factory_image(board, fw, image, app_version="1.4.2", build_time=WHEN)
    maker = make_token(sqlite_db, role="maker", username="factory-line-1")
    installer = make_token(sqlite_db, role="installer", username="wang")
    admin = make_token(sqlite_db, role="city_admin", username="boss")
    with running_fleet(make_settings(sqlite_db.url)) as (handle, _lt):
        url = f"http://127.0.0.1:{handle.http_port}"
        plans = plan_flash(["/dev/fake1", "/dev/fake2"], board, image, model="GG-A1")
        log = RecordLog(tmp_path / "made.jsonl")
        results = flash_many(plans, runner=_runner, recorder=http_recorder(url, token=maker), records=log,
                             console=_quiet(), clock=lambda: WHEN)
        assert [r.fleet for r in results] == ["recorded", "recorded"]

        # an installer's token: refused, and the flash tool says what token it needs
        with pytest.raises(FlashError) as e:
            http_recorder(url, token=installer)(log.read()[-1])
        assert str(e.value).startswith("the fleet refused the record: 403 ")
        assert e.value.args[0].endswith("(--token / GASGUARD_FLEET_TOKEN must be a maker's API token)")
        assert httpx.get(url + "/api/v1/manufacturing", headers={"Authorization": f"Bearer {installer}"}).status_code == 403
        # a city administrator reads the list but does not record boards
        rec = {k: v for k, v in log.read()[-1].items() if k not in ("fleet", "port")}
        assert httpx.post(url + "/api/v1/manufacturing", json=rec,
                          headers={"Authorization": f"Bearer {admin}"}).status_code == 403

        # the same record again (a resend after a lost answer): 200, the same row, nothing new
        h = {"Authorization": f"Bearer {maker}"}
        r = httpx.post(url + "/api/v1/manufacturing", json=rec, headers=h)
        assert r.status_code == 200, r.text
        first = r.json()
        assert (first["chip_id"], first["device_id"], first["model"], first["flashes"], first["recorded_by"]) == (
            rec["unique_id"], "gg-" + rec["unique_id"], "GG-A1", 1, "factory-line-1")
        # a later flash of the same chip (new image): the row follows it and counts it
        r = httpx.post(url + "/api/v1/manufacturing", headers=h,
                       json=rec | {"flashed_at": "2026-03-02T09:00:00Z", "app_version": "1.5.0"})
        assert (r.status_code, r.json()["id"], r.json()["flashes"], r.json()["app_version"]) == (
            200, first["id"], 2, "1.5.0")
        # bad input names the field
        r = httpx.post(url + "/api/v1/manufacturing", headers=h, json=rec | {"device_id": "gg-000000000000"})
        assert r.status_code == 400 and "does not match chip id" in r.text
        r = httpx.post(url + "/api/v1/manufacturing", headers=h, json=rec | {"unique_id": "24:0A"})
        assert r.status_code == 422 and "unique_id" in r.text

        listed = httpx.get(url + "/api/v1/manufacturing", headers={"Authorization": f"Bearer {admin}"}).json()
        assert listed["count"] == 2
        assert sorted(x["chip_id"] for x in listed["data"]) == ["240ac4000901", "240ac4000902"]
        one = httpx.get(url + "/api/v1/manufacturing", params={"model": "nope"}, headers=h).json()
        assert one == {"data": [], "count": 0}
    with sqlite_db.session() as s:
        assert s.scalar(select(func.count()).select_from(ManufacturingRecord)) == 2
        actions = s.scalars(select(AuditLog.action).where(AuditLog.entity == "manufacturing")).all()
        assert sorted(actions) == ["manufacturing_record", "manufacturing_record", "manufacturing_reflash"]


def test_record__idempotent_and_an_older_flash_is_ignored(db, frozen_clock) -> None:  # noqa: ANN001
    data = {"chip_id": "240ac4000001", "model": "GG-A1", "flashed_at": WHEN, "app_version": "1.4.2"}
    with db.session() as s:
        row, created = service.record(s, data=dict(data), by="m")
        assert created and row.device_id == "gg-240ac4000001"
        again, created = service.record(s, data=dict(data), by="m")
        assert (again.id, created, again.flashes) == (row.id, False, 1)
        older, created = service.record(s, data=data | {"flashed_at": datetime(2026, 2, 1, tzinfo=UTC),
                                                        "app_version": "1.0.0"}, by="m")
        assert (older.app_version, older.flashes, created) == ("1.4.2", 1, False)
        s.commit()

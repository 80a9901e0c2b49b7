"""The lifecycle and campaign tables and their migration 0002_lifecycle_campaign."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from fleet.store.migrate import downgrade, upgrade

OURS = {"work_orders", "calibration_records", "installs", "install_items", "inspections", "findings", "supply_stops"}


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
    engine.dispose()
    return names


def test_migration__0002_up_down_up(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    upgrade(url, revision="0002_lifecycle_campaign")
    assert OURS <= _tables(url)
    downgrade(url, revision="0001_core")
    tables = _tables(url)
    assert not OURS & tables and {"sites", "assets", "devices"} <= tables
    upgrade(url, revision="0002_lifecycle_campaign")
    assert OURS <= _tables(url)


def test_migration__constraints_hold(db) -> None:  # noqa: ANN001
    """The unique keys the services rely on exist in the migrated schema (both backends)."""
    with db.engine.connect() as conn:
        insp = sa.inspect(conn)
        uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("work_orders")}
        assert ("key",) in uniques
        assert ("asset_id",) in {tuple(u["column_names"]) for u in insp.get_unique_constraints("install_items")}
        fks = {(tuple(f["constrained_columns"]), f["referred_table"]) for f in insp.get_foreign_keys("findings")}
        assert {(("inspection_id",), "inspections"), (("site_id",), "sites"), (("asset_id",), "assets")} <= fks

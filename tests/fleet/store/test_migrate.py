"""fleet/store/migrate.py and the hand-written migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from fleet.store.base import Base
from fleet.store.db import Database
from fleet.store.migrate import current_heads, downgrade, upgrade


def test_upgrade__migrated_schema_matches_models(db: Database) -> None:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, Base.metadata) == []
        assert ctx.get_current_revision() in current_heads()


def test_upgrade__new_sqlite_file_then_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'fleet.db'}"
    upgrade(url)
    upgrade(url)  # a current database is left alone
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("select version_num from alembic_version").scalar() in current_heads()
        assert "devices" in sa.inspect(conn).get_table_names()
    engine.dispose()


def test_downgrade__base_drops_every_core_table(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fleet.db'}"
    upgrade(url, revision="0001_core")
    downgrade(url, revision="base")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == ["alembic_version"]
    engine.dispose()


def test_upgrade__without_url_or_connection__refused() -> None:
    import pytest

    with pytest.raises(ValueError, match="needs a database URL or a connection"):
        upgrade()


def test_upgrade__concurrent_processes_on_postgres__one_migrates(postgres_schema_url: str) -> None:
    """Four 'processes' (threads) upgrading a fresh schema at once: no error, one version row."""
    import threading
    import uuid

    base, _, _ = postgres_schema_url.partition("?")
    schema = f"gg_conc_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = f"{base}?options=-csearch_path%3D{schema}"
    errors: list[BaseException] = []

    def run() -> None:
        try:
            upgrade(url)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    try:
        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        with admin.connect() as conn:
            rows = conn.exec_driver_sql(f'SELECT version_num FROM "{schema}".alembic_version').all()
        assert [r[0] for r in rows] == current_heads()
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()

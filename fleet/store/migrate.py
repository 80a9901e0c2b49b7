"""Bring a database up to the latest schema, from Python (the CLI, the server, tests).

`upgrade(url)` is what `gasguard serve` runs at start-up: a new SQLite file gets every table,
an existing one gets the missing revisions, and a current one is left alone."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from fleet.store.db import make_engine, normalise_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic Config for the fleet's migrations, without an alembic.ini on disk."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url is not None:
        # ConfigParser treats % as interpolation; a URL may contain %-escapes (search_path).
        cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


# pg_advisory_lock key: several ingest processes starting together on one PostgreSQL database
# migrate one at a time (the others then find it current).
_PG_MIGRATION_LOCK = 0x67675F6D6967  # "gg_mig"


def upgrade(url: str | None = None, *, revision: str = "head", connection: Connection | None = None) -> None:
    """Upgrade the database at `url` (or on `connection`) to `revision`.

    On PostgreSQL the upgrade runs under an advisory lock, so processes starting at the same
    time do not race to create the same tables."""
    if url is None and connection is None:
        raise ValueError("upgrade() needs a database URL or a connection")
    if connection is None and make_url(normalise_url(url or "")).get_backend_name() == "postgresql":
        engine = make_engine(url or "", poolclass=NullPool)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({_PG_MIGRATION_LOCK})")
                try:
                    command.upgrade(alembic_config(connection=conn), revision)
                    conn.commit()
                finally:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_PG_MIGRATION_LOCK})")
                    conn.commit()
        finally:
            engine.dispose()
        return
    command.upgrade(alembic_config(url, connection), revision)


def downgrade(url: str | None = None, *, revision: str, connection: Connection | None = None) -> None:
    """Downgrade to `revision` (`base` drops every fleet table)."""
    command.downgrade(alembic_config(url, connection), revision)


def current_heads() -> list[str]:
    """The head revision id(s) of the migration scripts."""
    from alembic.script import ScriptDirectory

    return list(ScriptDirectory.from_config(alembic_config()).get_heads())

"""Alembic environment for the fleet store.

The URL comes from the Alembic config (`fleet.store.migrate` sets it); a connection handed in
through `config.attributes["connection"]` is used as is, so tests can migrate inside their own
schema. Every fleet package that owns tables is imported here, so `Base.metadata` is complete."""

from __future__ import annotations

import importlib

from alembic import context
from sqlalchemy import Connection

from fleet.store.base import Base
from fleet.store.db import make_engine

# Packages owning tables. A package not written yet is skipped (its migration is not there either).
MODEL_MODULES = (
    "fleet.store.models",
    "fleet.lifecycle.models",
    "fleet.campaign.models",
)
for _name in MODEL_MODULES:
    try:
        importlib.import_module(_name)
    except ModuleNotFoundError as e:
        if not (e.name and _name.startswith(e.name)):
            raise

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

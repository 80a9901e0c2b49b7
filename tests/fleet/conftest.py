"""Shared fleet fixtures: a migrated database on SQLite and on PostgreSQL, and a test clock.

`db` is parametrized over both backends, so every test that takes it runs twice:
- `sqlite`: a file in tmp_path, copied from a template migrated once per session;
- `postgres`: one fresh schema per test session on the server at GASGUARD_TEST_POSTGRES_URL
  (default postgresql+psycopg://postgres@127.0.0.1:5432/test), migrated once and emptied before
  each test. When the server is unreachable these cases skip and say why, unless
  GASGUARD_REQUIRE_POSTGRES=1 (CI), when they fail.
`sqlite_db` is for tests where the backend does not matter (faster, one run)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from fleet.core import clock as clock_mod
from fleet.store.db import Database
from fleet.store.migrate import upgrade

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_base_url() -> str:
    return os.environ.get("GASGUARD_TEST_POSTGRES_URL", DEFAULT_PG_URL)


def _postgres_unavailable() -> str | None:
    """None when the server answers, else the reason (cached for the session)."""
    url = postgres_base_url()
    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.exec_driver_sql("select 1")
        engine.dispose()
        return None
    except Exception as e:  # noqa: BLE001 - any failure to connect means "not reachable"
        return f"PostgreSQL not reachable at {url}: {type(e).__name__}: {str(e).splitlines()[0]}"


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    """A fresh schema for this test session, migrated to head; dropped afterwards."""
    reason = _postgres_unavailable()
    if reason:
        if os.environ.get("GASGUARD_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (GASGUARD_REQUIRE_POSTGRES=1, so this is a failure, not a skip)")
        pytest.skip(f"{reason}; the PostgreSQL suite is skipped (set GASGUARD_TEST_POSTGRES_URL)")
    base = postgres_base_url()
    schema = f"gg_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy (migrating takes longer than copying)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    eng = sa.create_engine(f"sqlite:///{path}")
    with eng.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    return path


def _empty_postgres(database: Database) -> None:
    """Empty every table the migrations created (not only the ones this process's models know)."""
    with database.engine.begin() as conn:
        names = [n for n in sa.inspect(conn).get_table_names() if n != "alembic_version"]
        if names:
            tables = ", ".join(f'"{n}"' for n in names)
            conn.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture
def sqlite_db(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "fleet.db"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A migrated, empty database, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_db")
        return
    url = request.getfixturevalue("postgres_schema_url")
    database = Database(url)
    _empty_postgres(database)
    yield database
    database.dispose()


@pytest.fixture
def frozen_clock() -> Iterator[clock_mod.FrozenClock]:
    """The fleet clock frozen at 2026-03-01 08:00 UTC; `frozen_clock.advance(s)` moves it."""
    fc = clock_mod.FrozenClock(datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc))
    clock_mod.set_clock(fc)
    yield fc
    clock_mod.set_clock(None)


@pytest.fixture
def api_client(db: Database) -> Iterator["TestClient"]:
    """The HTTP app over a fleet on `db` (CoAP side on a free port, no background loops)."""
    import warnings

    with warnings.catch_warnings():
        # starlette's TestClient warns that it will move from httpx to httpx2; not ours to fix
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from fleet.api.main import create_app
    from fleet.runtime import Fleet
    from utils.fleet_runtime import make_settings
    from utils.security_auth import auth_headers

    fleet = Fleet(make_settings(db.url), database=Database(db.url))
    app = create_app(fleet, manage=True, background=False)
    with TestClient(app) as client:
        client.fleet = fleet  # type: ignore[attr-defined]
        client.headers.update(auth_headers(db))  # the city administrator (fleet/security)
        yield client


# Folders of tests/fleet owned by other packages' authors keep their own warning policy.
_OTHER_AREAS = ("lifecycle", "campaign", "provision", "security")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fleet-core tests fail on any unexpected warning (STYLE.md 14)."""
    here = Path(__file__).resolve().parent
    for item in items:
        try:
            rel = Path(str(item.fspath)).resolve().relative_to(here)
        except ValueError:
            continue
        if rel.parts and rel.parts[0] in _OTHER_AREAS:
            continue
        item.add_marker(pytest.mark.filterwarnings("error"))

"""fleet/store/db.py: URL normalising and the SQLite connection settings."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from fleet.store.db import Database, normalise_url
from fleet.store.models import ProductModel


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("fleet.db", "sqlite:///fleet.db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ],
)
def test_normalise_url__valid(given: str, expected: str) -> None:
    assert normalise_url(given) == expected


def test_sqlite__wal_and_foreign_keys_on(tmp_path: Path) -> None:
    database = Database(tmp_path / "x.db")
    with database.engine.connect() as conn:
        assert conn.exec_driver_sql("pragma journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("pragma foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("pragma synchronous").scalar() == 1  # NORMAL
    database.dispose()


def test_utc_datetime__round_trips_aware(db: Database) -> None:
    t = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    with db.session() as s:
        s.add(ProductModel(code="m1", kind="alarm", maker="m", model="x", created_at=t))
        s.commit()
    with db.session() as s:
        got = s.query(ProductModel).one().created_at
    assert got == t and got.tzinfo is not None


def test_utc_datetime__naive__refused(sqlite_db: Database) -> None:
    with sqlite_db.session() as s:
        s.add(ProductModel(code="m1", kind="alarm", maker="m", model="x", created_at=datetime(2026, 1, 1)))
        with pytest.raises(Exception, match="naive datetime"):
            s.commit()

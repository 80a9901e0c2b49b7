"""fleet/store/db.py: URL normalising and the SQLite connection settings."""

from __future__ import annotations

from datetime import datetime, timezone
import time
from pathlib import Path

import pytest

from fleet.store.db import Database, WalCheckpointer, normalise_url
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


def _wal_frames_after_commits(database: Database, commits: int) -> int:
    """Commit `commits` one-page rows one by one; the frames then in the WAL (not yet reset)."""
    with database.engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
        conn.commit()
        for _ in range(commits):
            conn.exec_driver_sql("INSERT INTO t VALUES (?)", ("x" * 4000,))
            conn.commit()
        return int(conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


def test_sqlite__background_checkpoint__commits_leave_it_to_the_thread(tmp_path: Path) -> None:
    db = Database(tmp_path / "ck.db", background_checkpoint=True)
    plain = Database(tmp_path / "plain.db")
    try:
        assert db.checkpointer is not None and plain.checkpointer is None
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == WalCheckpointer.FALLBACK_PAGES
        db.checkpointer.stop()  # commits alone first: without the thread, the WAL keeps growing
        # past SQLite's 1,000-page autocheckpoint, where the plain database's commits checkpoint it
        assert _wal_frames_after_commits(db, 1200) > 1200 and _wal_frames_after_commits(plain, 1200) < 1000
        wal = tmp_path / "ck.db-wal"
        assert wal.stat().st_size > 50 * 4000  # the commits left the WAL alone
        db.checkpointer = WalCheckpointer(db.engine, every_s=0.05)
        deadline = time.monotonic() + 10
        while db.checkpointer.runs < 2:  # the thread's PASSIVE checkpoint copied it into the file
            assert time.monotonic() < deadline, "no background checkpoint within 10 s"
            time.sleep(0.1)
        assert (tmp_path / "ck.db").stat().st_size > 50 * 4000 and db.checkpointer.failures == 0
        thread = db.checkpointer._thread  # noqa: SLF001
    finally:
        db.dispose()
        plain.dispose()
    assert db.checkpointer is None and not thread.is_alive()

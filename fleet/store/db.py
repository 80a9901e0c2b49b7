"""Engine and session factory from a database URL.

SQLite is the embedded default (a file, nothing installed). It is opened in WAL mode so the
dashboard can read while ingest writes, with `synchronous=NORMAL` (in WAL mode a commit survives
a crash of the process; only a power loss can take the last commits back, see docs/fleet.md),
`foreign_keys=ON` and a busy timeout so a second writer waits instead of failing.
PostgreSQL is reached with `postgresql+psycopg://user@host:port/db`."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

DEFAULT_SQLITE_PRAGMAS: dict[str, str] = {
    "journal_mode": "WAL",
    "synchronous": "NORMAL",
    "foreign_keys": "ON",
    "busy_timeout": "10000",
    "cache_size": "-32000",  # 32 MB page cache
    "temp_store": "MEMORY",
}


def normalise_url(url: str | Path) -> str:
    """Accept a bare file path for SQLite and the common PostgreSQL spellings.

    `fleet.db` -> `sqlite:///fleet.db`; `postgresql://` and `postgres://` -> psycopg 3."""
    text = str(url)
    if "://" not in text:
        return f"sqlite:///{text}"
    if text.startswith("postgres://"):
        return "postgresql+psycopg://" + text[len("postgres://") :]
    if text.startswith("postgresql://"):
        return "postgresql+psycopg://" + text[len("postgresql://") :]
    return text


def make_engine(url: str | Path, *, echo: bool = False, sqlite_synchronous: str = "NORMAL",
                sqlite_pragmas: dict[str, str] | None = None, **kwargs: Any) -> Engine:
    """Create an Engine for `url` with the fleet's connection settings applied.

    `sqlite_synchronous` FULL makes each SQLite commit survive a power cut too (one more sync
    per commit; with batched commits that is per batch, not per message)."""
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        db = parsed.database
        if db and db != ":memory:":
            Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {}).setdefault("check_same_thread", False)
        engine = create_engine(url, echo=echo, **kwargs)
        if sqlite_synchronous.upper() not in ("NORMAL", "FULL"):
            raise ValueError(f"sqlite_synchronous must be NORMAL or FULL, got {sqlite_synchronous!r}")
        _install_sqlite_pragmas(engine, {**DEFAULT_SQLITE_PRAGMAS, "synchronous": sqlite_synchronous.upper(),
                                         **(sqlite_pragmas or {})})
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 8)
        kwargs.setdefault("max_overflow", 8)
    return create_engine(url, echo=echo, **kwargs)


def _install_sqlite_pragmas(engine: Engine, pragmas: dict[str, str]) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # pysqlite opens transactions lazily and would otherwise defer BEGIN; the pragmas must run
        # outside a transaction (journal_mode cannot change inside one).
        cur = dbapi_conn.cursor()
        for name, value in pragmas.items():
            cur.execute(f"PRAGMA {name}={value}")
        cur.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (the API returns them)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def wait_until_reachable(engine: Engine, *, attempts: int = 10, delay_s: float = 1.0) -> None:
    """Try a trivial query up to `attempts` times, `delay_s` apart (a server still starting, a
    container coming up). Raises ConnectionError naming the URL and the last failure."""
    import time

    from sqlalchemy.exc import OperationalError

    last: Exception | None = None
    for i in range(attempts):
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return
        except OperationalError as e:
            last = e
            if i + 1 < attempts:
                time.sleep(delay_s)
    detail = str(getattr(last, "orig", last)).strip().splitlines()[0] if last else "unknown"
    raise ConnectionError(
        f"database {engine.url.render_as_string(hide_password=True)} not reachable after {attempts} attempts: "
        f"{detail}; check --db / GASGUARD_DB and that the server is running"
    )


class WalCheckpointer:
    """Checkpoints a SQLite WAL from a thread of its own, so commits never do it.

    Why: a commit that takes the WAL past `wal_autocheckpoint` pages copies it into the database
    file and syncs both, there and then, while the messages it holds wait for their acks. In the
    soak benchmark (1,000 messages a second, docs/performance.md) moving that here took the p99
    of a 120 s run from 22 to 14 ms; over 10 minutes the p99 stayed ~20 ms, set by a stall that
    grows with the database. The fleet's connections checkpoint only past `FALLBACK_PAGES`
    (should this thread ever stall) and the thread runs a PASSIVE checkpoint (it never waits for
    or blocks readers and writers) every `every_s`."""

    FALLBACK_PAGES = 20_000  # ~80 MB of WAL before a commit checkpoints after all

    def __init__(self, engine: Engine, every_s: float = 1.0) -> None:
        self.engine = engine
        self.every_s = every_s
        self.runs = 0
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.runs += 1
            except Exception as e:  # noqa: BLE001 - keep trying; commits checkpoint past FALLBACK_PAGES
                self.failures += 1
                log.warning("SQLite background checkpoint failed: %s", e)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


class Database:
    """An engine and its session factory, the one handle the rest of the fleet passes around.

    `background_checkpoint=True` (the fleet's own processes): on SQLite, WAL checkpoints run in
    a thread of their own instead of inside commits (`WalCheckpointer`)."""

    def __init__(self, url: str | Path, *, background_checkpoint: bool = False, **kwargs: Any) -> None:
        self.url = normalise_url(url)
        self.checkpointer: WalCheckpointer | None = None
        parsed = make_url(self.url)
        checkpoint = background_checkpoint and parsed.get_backend_name() == "sqlite" \
            and parsed.database not in (None, "", ":memory:")
        if checkpoint:
            kwargs.setdefault("sqlite_pragmas", {})["wal_autocheckpoint"] = str(WalCheckpointer.FALLBACK_PAGES)
        self.engine = make_engine(self.url, **kwargs)
        self.sessions = make_session_factory(self.engine)
        if checkpoint:
            self.checkpointer = WalCheckpointer(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        return self.sessions()

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
            self.checkpointer = None
        self.engine.dispose()

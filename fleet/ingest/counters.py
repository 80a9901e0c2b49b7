"""Counts of refused input, kept in memory and written to `ingest_errors` now and then.

A flood of bad datagrams must not become a flood of database writes, so refusals are counted
here (a dict increment) and `flush()` upserts the totals in one transaction."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fleet.core.clock import now
from fleet.store.models import IngestError


@dataclass(slots=True)
class _Tally:
    count: int
    first_at: datetime
    last_at: datetime
    last_detail: str | None
    last_remote: str | None


class ErrorCounter:
    """Thread-safe tallies per (resource, reason); `totals` includes what was already flushed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], _Tally] = {}
        self.totals: dict[tuple[str, str], int] = {}

    def count(self, resource: str, reason: str, detail: str | None = None, remote: str | None = None) -> None:
        t = now()
        key = (resource, reason)
        with self._lock:
            tally = self._pending.get(key)
            if tally is None:
                self._pending[key] = _Tally(1, t, t, (detail or "")[:500] or None, remote)
            else:
                tally.count += 1
                tally.last_at = t
                tally.last_detail = (detail or "")[:500] or None
                tally.last_remote = remote
            self.totals[key] = self.totals.get(key, 0) + 1

    def flush(self, sessions: "sessionmaker[Session]") -> int:
        """Add the pending tallies to the table in one transaction; returns how many rows
        changed. On a database error the tallies are kept for the next flush."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return 0
        try:
            with sessions() as session:
                for (resource, reason), tally in pending.items():
                    row = session.scalars(
                        select(IngestError).where(IngestError.resource == resource, IngestError.reason == reason)
                    ).first()
                    if row is None:
                        session.add(IngestError(resource=resource, reason=reason, count=tally.count,
                                                first_at=tally.first_at, last_at=tally.last_at,
                                                last_detail=tally.last_detail, last_remote=tally.last_remote))
                    else:
                        row.count += tally.count
                        row.last_at = tally.last_at
                        row.last_detail = tally.last_detail
                        row.last_remote = tally.last_remote
                session.commit()
        except Exception:
            with self._lock:
                for key, tally in pending.items():
                    cur = self._pending.get(key)
                    if cur is None:
                        self._pending[key] = tally
                    else:
                        cur.count += tally.count
                        cur.first_at = tally.first_at
            raise
        return len(pending)

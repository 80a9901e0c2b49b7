"""Counts of refused input, kept in memory and written to `ingest_errors` now and then.

A flood of bad datagrams must not become a flood of database writes, so refusals are counted
here (a dict increment) and `flush()` upserts the totals in one transaction. A refusal that
names a device (an OSCORE replay, forgery, a plain message from a device that speaks OSCORE)
is also tallied per device, into `device_refusals` (fleet/coap/oscore_models.py), for the
device's page."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fleet.coap.oscore_models import DeviceRefusal
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
        self._pending_dev: dict[tuple[str, str], _Tally] = {}
        self.totals: dict[tuple[str, str], int] = {}
        self.device_totals: dict[tuple[str, str], int] = {}

    def count(self, resource: str, reason: str, detail: str | None = None, remote: str | None = None,
              device: str | None = None) -> None:
        """One refusal of (resource, reason); with `device`, also one for (device, reason)."""
        t = now()
        with self._lock:
            _add(self._pending, (resource, reason), t, detail, remote)
            self.totals[(resource, reason)] = self.totals.get((resource, reason), 0) + 1
            if device:
                _add(self._pending_dev, (device[:32], reason), t, detail, remote)
                key = (device[:32], reason)
                self.device_totals[key] = self.device_totals.get(key, 0) + 1

    def flush(self, sessions: "sessionmaker[Session]") -> int:
        """Add the pending tallies to the tables in one transaction; returns how many rows
        changed. On a database error the tallies are kept for the next flush."""
        with self._lock:
            pending, self._pending = self._pending, {}
            pending_dev, self._pending_dev = self._pending_dev, {}
        if not pending and not pending_dev:
            return 0
        try:
            with sessions() as session:
                for (device_id, reason), tally in pending_dev.items():
                    _upsert(session, DeviceRefusal, {"device_id": device_id, "reason": reason}, tally)
                for (resource, reason), tally in pending.items():
                    _upsert(session, IngestError, {"resource": resource, "reason": reason}, tally)
                session.commit()
        except Exception:
            with self._lock:
                _merge_back(self._pending, pending)
                _merge_back(self._pending_dev, pending_dev)
            raise
        return len(pending) + len(pending_dev)


def _upsert(session: Session, model: type[IngestError] | type[DeviceRefusal], key: dict[str, str], tally: _Tally
            ) -> None:
    """Add a tally to its row (by the key columns), creating the row the first time."""
    row = session.scalars(select(model).filter_by(**key)).first()
    if row is None:
        session.add(model(**key, count=tally.count, first_at=tally.first_at, last_at=tally.last_at,
                          last_detail=tally.last_detail, last_remote=tally.last_remote))
        return
    row.count += tally.count
    row.last_at = tally.last_at
    row.last_detail = tally.last_detail
    row.last_remote = tally.last_remote


def _add(pending: dict[tuple[str, str], _Tally], key: tuple[str, str], t: datetime, detail: str | None,
         remote: str | None) -> None:
    tally = pending.get(key)
    if tally is None:
        pending[key] = _Tally(1, t, t, (detail or "")[:500] or None, remote)
    else:
        tally.count += 1
        tally.last_at = t
        tally.last_detail = (detail or "")[:500] or None
        tally.last_remote = remote


def _merge_back(into: dict[tuple[str, str], _Tally], pending: dict[tuple[str, str], _Tally]) -> None:
    for key, tally in pending.items():
        cur = into.get(key)
        if cur is None:
            into[key] = tally
        else:
            cur.count += tally.count
            cur.first_at = tally.first_at

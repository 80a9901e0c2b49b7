"""fleet/ingest/counters.py: refusals counted in memory, added to the table on flush."""

from __future__ import annotations

from sqlalchemy import select

from fleet.ingest.counters import ErrorCounter
from fleet.store.db import Database
from fleet.store.models import IngestError


def test_flush__accumulates_across_flushes(db: Database) -> None:
    c = ErrorCounter()
    c.count("/gg/ev", "bad_cbor", "first", "127.0.0.1:1")
    c.count("/gg/ev", "bad_cbor", "second", "127.0.0.1:2")
    assert c.flush(db.sessions) == 1
    c.count("/gg/ev", "bad_cbor", "third", "127.0.0.1:3")
    c.count("/gg/hb", "bad_message", "x", None)
    assert c.flush(db.sessions) == 2
    assert c.flush(db.sessions) == 0
    with db.session() as s:
        rows = {(r.resource, r.reason): (r.count, r.last_detail, r.last_remote) for r in s.scalars(select(IngestError))}
    assert rows == {("/gg/ev", "bad_cbor"): (3, "third", "127.0.0.1:3"), ("/gg/hb", "bad_message"): (1, "x", None)}
    assert c.totals == {("/gg/ev", "bad_cbor"): 3, ("/gg/hb", "bad_message"): 1}

"""fleet/ingest/writer.py: batching, answers after commit, per-message fallback on a failed batch."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from fleet.core.config import Settings
from fleet.core.errors import Unavailable
from fleet.ingest.core import Ingestor, Item, Result
from fleet.ingest.writer import BatchWriter
from fleet.store.db import Database
from fleet.store.models import Event
from utils import fleet_factories as ff


def test_submit__concurrent_messages_share_batches(sqlite_db: Database) -> None:
    async def main() -> tuple[list[Result], int]:
        w = BatchWriter(sqlite_db, Ingestor(Settings()), batch_max=64, wait_ms=5)
        await w.start()
        try:
            items = [Item("event", ff.event("gg-a", i + 1, "boot"), at=ff.at()) for i in range(200)]
            results = await asyncio.gather(*(w.submit(it) for it in items))
            return list(results), w.batches
        finally:
            await w.stop()

    results, batches = asyncio.run(main())
    assert [r.ack["seq"] for r in results] == list(range(1, 201))  # type: ignore[index]
    assert batches < 20  # 200 messages, at most 64 a batch
    with sqlite_db.session() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 200


def test_submit__failed_batch__retried_one_by_one(sqlite_db: Database) -> None:
    class Flaky(Ingestor):
        def process(self, session: Any, items: Any) -> list[Result]:
            if len(items) > 1:
                raise OperationalError("batch", {}, Exception("database is locked"))
            if items[0].body["seq"] == 2:
                raise OperationalError("one", {}, Exception("disk I/O error"))
            return super().process(session, items)

    async def main() -> list[Result]:
        w = BatchWriter(sqlite_db, Flaky(Settings()), batch_max=8, wait_ms=20)
        await w.start()
        try:
            items = [Item("event", ff.event("gg-a", i + 1, "boot"), at=ff.at()) for i in range(3)]
            return list(await asyncio.gather(*(w.submit(it) for it in items)))
        finally:
            await w.stop()

    r1, r2, r3 = asyncio.run(main())
    assert r1.ack is not None and r3.ack is not None
    assert isinstance(r2.error, Unavailable)
    assert str(r2.error) == "the fleet could not store this message; retry later"
    with sqlite_db.session() as s:
        assert s.scalars(select(Event.seq).order_by(Event.seq)).all() == [1, 3]


def test_submit__not_started__refused(sqlite_db: Database) -> None:
    import pytest

    w = BatchWriter(sqlite_db, Ingestor(Settings()))
    with pytest.raises(RuntimeError, match=r"^BatchWriter is not running; call start\(\) first$"):
        asyncio.run(w.submit(Item("event", ff.event(), at=ff.at())))

"""fleet/tasks/housekeeping.py: one pass escalates, expires and writes the counters."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from fleet.core.clock import FrozenClock
from fleet.ingest.core import Ingestor, Item
from fleet.runtime import Fleet
from fleet.services import commands
from fleet.store.db import Database
from fleet.store.models import Alarm, Command, IngestError
from fleet.tasks.housekeeping import housekeeping_once
from utils import fleet_factories as ff
from utils.fleet_runtime import make_settings

DEV = "gg-a4cf12b3c4d5"


def test_housekeeping_once(db: Database, frozen_clock: FrozenClock) -> None:
    with db.session() as s:
        ff.device(s, DEV)
        Ingestor(make_settings(db.url)).process(s, [Item("event", ff.event(DEV, 1, "alarm"), at=ff.at())])
        commands.create(s, device_id=DEV, op="reboot", created_by="op", ttl_s=60)
        s.commit()

    async def main() -> tuple[tuple[int, int], bool]:
        fleet = Fleet(make_settings(db.url, escalate_after_s=120), database=Database(db.url))
        await fleet.start(coap=False, background=False)
        try:
            fleet.counter.count("/gg/ev", "bad_cbor")
            frozen_clock.advance(121)
            return await housekeeping_once(fleet), fleet.notify_kick.is_set()
        finally:
            await fleet.stop()

    (escalated, expired), kicked = asyncio.run(main())
    assert (escalated, expired, kicked) == (1, 1, True)
    with db.session() as s:
        assert s.scalars(select(Alarm.escalation_level)).one() == 1
        assert s.scalars(select(Command.state)).one() == "expired"
        assert s.scalars(select(IngestError.count)).one() == 1

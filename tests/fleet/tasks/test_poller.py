"""fleet/tasks/poller.py: silent devices are polled over CoAP before being called offline."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from fleet.core.clock import FrozenClock
from fleet.runtime import Fleet
from fleet.store.db import Database
from fleet.store.models import AuditLog, Device, Event
from fleet.tasks.poller import poll_once
from utils.fake_device import FakeDevice
from utils.fleet_runtime import make_settings

A, B = "gg-00000000000a", "gg-00000000000b"


def test_poll_once__answering_device_stays_online__silent_one_goes_offline(db: Database,
                                                                          frozen_clock: FrozenClock) -> None:
    async def main() -> tuple[dict[str, str], dict[str, str], int, int]:
        fleet = Fleet(make_settings(db.url, heartbeat_interval_s=60, offline_grace_s=30, poll_timeout_s=1.0),
                      database=Database(db.url))
        await fleet.start(background=False)
        a = await FakeDevice(A, fleet.coap_port).start()  # type: ignore[arg-type]
        b = await FakeDevice(B, fleet.coap_port).start()  # type: ignore[arg-type]
        try:
            await a.register()
            await b.register()
            early = await poll_once(fleet)  # nobody is silent yet
            frozen_clock.advance(91)  # past 60 s interval + 30 s grace
            b.answer_polls = False
            later = await poll_once(fleet)
            frozen_clock.advance(5)
            await b.heartbeat()  # b speaks again: back online
            return early, later, a.health_polls, b.health_polls
        finally:
            await a.stop()
            await b.stop()
            await fleet.stop()

    early, later, a_polls, b_polls = asyncio.run(main())
    assert early == {}
    assert later == {A: "answered", B: "offline"}
    assert (a_polls, b_polls) == (1, 1)
    with db.session() as s:
        devs = {d.device_id: d for d in s.scalars(select(Device))}
        assert devs[A].online and devs[A].last_poll_at is None
        b = devs[B]
        assert b.online and b.last_offline_at is not None and b.last_online_at > b.last_offline_at
        kinds = s.scalars(select(Event.kind).where(Event.device_id == B, Event.origin == "fleet")
                          .order_by(Event.id)).all()
        assert kinds == ["offline", "online"]
        offline = s.scalars(select(Event).where(Event.device_id == B, Event.kind == "offline")).one()
        assert offline.payload["reason"].startswith("silent; poll failed: coap://127.0.0.1:")
        actions = s.scalars(select(AuditLog.action).where(AuditLog.entity_id == B).order_by(AuditLog.id)).all()
        assert actions == ["device.offline", "device.online"]


def test_poll_once__device_without_address__offline_without_poll(db: Database, frozen_clock: FrozenClock) -> None:
    from utils import fleet_factories as ff

    with db.session() as s:
        ff.device(s, A, address=None)
        s.commit()

    async def main() -> dict[str, str]:
        fleet = Fleet(make_settings(db.url), database=Database(db.url))
        await fleet.start(background=False)
        try:
            frozen_clock.advance(3600)
            return await poll_once(fleet)
        finally:
            await fleet.stop()

    assert asyncio.run(main()) == {A: "offline"}
    with db.session() as s:
        d = s.scalars(select(Device)).one()
        assert not d.online

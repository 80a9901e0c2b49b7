"""fleet/runtime.py: commands reach a (fake aiocoap) device by ack and by direct request, and
their results come back; a direct poll of one device."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from fleet.core.errors import Unavailable
from fleet.runtime import Fleet
from fleet.services import commands
from fleet.store.db import Database
from fleet.store.models import AuditLog, Command, Device
from utils.fake_device import FakeDevice
from utils.fleet_runtime import make_settings

DEV = "gg-a4cf12b3c4d5"


def _create(fleet: Fleet, op: str) -> int:
    with fleet.db.session() as s:
        cmd, _ = commands.create(s, device_id=DEV, op=op, created_by="op1", ttl_s=600)
        s.commit()
        return cmd.id


def test_command__offered_in_ack__executed__result_recorded(db: Database) -> None:
    async def main() -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        fleet = Fleet(make_settings(db.url), database=Database(db.url))
        await fleet.start(background=False)
        dev = await FakeDevice(DEV, fleet.coap_port).start()  # type: ignore[arg-type]
        try:
            await dev.register()
            cid = await fleet.writer.run(_create, fleet, "close_valve")
            ack = await dev.heartbeat()
            results = await dev.run_acked_commands(ack)
            after = await dev.heartbeat()
            assert results[0]["id"] == cid
            return ack, dev.executed, after
        finally:
            await dev.stop()
            await fleet.stop()

    ack, executed, after = asyncio.run(main())
    assert ack["pc"] == 1 and [c["op"] for c in ack["cmds"]] == ["close_valve"]
    assert [c["op"] for c in executed] == ["close_valve"]
    assert after["pc"] == 0 and "cmds" not in after
    with db.session() as s:
        cmd = s.scalars(select(Command)).one()
        assert (cmd.state, cmd.sent_via, cmd.result) == ("confirmed", "ack", {"id": cmd.id, "st": "done"})
        actions = s.scalars(select(AuditLog.action).where(AuditLog.entity == "command").order_by(AuditLog.id)).all()
        assert actions == ["command.created", "command.sent", "command.confirmed"]


def test_command__delivered_directly__result_recorded(db: Database) -> None:
    async def main() -> Command:
        fleet = Fleet(make_settings(db.url), database=Database(db.url))
        await fleet.start(background=False)
        dev = await FakeDevice(DEV, fleet.coap_port).start()  # type: ignore[arg-type]
        try:
            await dev.register()
            cid = await fleet.writer.run(_create, fleet, "selftest")
            return await fleet.deliver_command(cid)
        finally:
            await dev.stop()
            await fleet.stop()

    cmd = asyncio.run(main())
    assert (cmd.state, cmd.sent_via) == ("confirmed", "direct")
    assert cmd.result == {"id": cmd.id, "st": "done", "ok": True}


def test_command__device_unreachable__stays_sent_for_next_ack(db: Database) -> None:
    async def main() -> tuple[str, str]:
        fleet = Fleet(make_settings(db.url, poll_timeout_s=0.5), database=Database(db.url))
        await fleet.start(background=False)
        dev = await FakeDevice(DEV, fleet.coap_port).start()  # type: ignore[arg-type]
        try:
            await dev.register()
        finally:
            await dev.stop()  # the device is gone; its address stays on record
        try:
            cid = await fleet.writer.run(_create, fleet, "reboot")
            with pytest.raises(Unavailable) as info:
                await fleet.deliver_command(cid)

            def state() -> str:
                with fleet.db.session() as s:
                    return s.get(Command, cid).state  # type: ignore[union-attr]

            return str(info.value), await fleet.writer.run(state)
        finally:
            await fleet.stop()

    message, state = asyncio.run(main())
    assert state == "sent"
    assert message.startswith("coap://127.0.0.1:") and "/cmd: " in message


def test_poll_device__ingests_health(db: Database) -> None:
    async def main() -> dict[str, Any]:
        fleet = Fleet(make_settings(db.url), database=Database(db.url))
        await fleet.start(background=False)
        dev = await FakeDevice(DEV, fleet.coap_port).start()  # type: ignore[arg-type]
        try:
            await dev.register()
            dev.lel = 7.25
            return await fleet.poll_device(DEV)
        finally:
            await dev.stop()
            await fleet.stop()

    body = asyncio.run(main())
    assert body["lel"] == 7.25
    with db.session() as s:
        assert s.scalars(select(Device)).one().health["lel"] == 7.25


def test_stop__releases_tasks_threads_and_socket(sqlite_db: Database) -> None:
    import gc
    import socket
    import threading
    import weakref

    async def main() -> tuple[weakref.ref[Fleet], int, set[asyncio.Task[object]]]:
        fleet = Fleet(make_settings(sqlite_db.url), database=Database(sqlite_db.url))
        await fleet.start(background=True)
        port = fleet.coap_port
        await fleet.stop()
        ref = weakref.ref(fleet)
        del fleet
        others = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
        return ref, port, others  # type: ignore[return-value]

    ref, port, others = asyncio.run(main())
    gc.collect()
    assert others == set()
    assert ref() is None, gc.get_referrers(ref())
    assert not [t for t in threading.enumerate() if t.name.startswith("fleet-ingest")]
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        s.bind(("::", port))  # the CoAP port is free again
    finally:
        s.close()

"""fleet/coap/server.py end to end: a real aiocoap client against the fleet's CoAP side."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiocoap
from aiocoap.numbers.codes import Code
from sqlalchemy import func, select

from fleet.coap.tuning import FleetTuning
from fleet.runtime import Fleet
from fleet.store.db import Database
from fleet.store.models import Event, IngestError, SequenceGap
from protocol import cbor, messages
from utils import fleet_factories as ff
from utils.fake_device import FakeDevice
from utils.fleet_runtime import make_settings

DEV = "gg-a4cf12b3c4d5"


def fleet_settings_ingest() -> str:
    """The ingest path the tests run against (tests/fleet/coap/conftest.py sets it)."""
    return make_settings("sqlite://").coap_ingest


def with_fleet(db: Database, body: Callable[[Fleet], Awaitable[Any]], **kw: Any) -> Any:
    async def main() -> Any:
        fleet = Fleet(make_settings(db.url, **kw), database=Database(db.url))
        await fleet.start(background=False)
        try:
            return await body(fleet)
        finally:
            await fleet.stop()

    return asyncio.run(main())


async def _request(ctx: aiocoap.Context, port: int, path: str, payload: bytes, cf: int | None = 60,
                   code: Code = Code.POST) -> aiocoap.Message:
    msg = aiocoap.Message(code=code, uri=f"coap://127.0.0.1:{port}/{path}", payload=payload)
    if cf is not None:
        msg.opt.content_format = cf
    return await ctx.request(msg).response


def test_event__sent_twice__stored_once_and_acked_twice(db: Database) -> None:
    async def body(fleet: Fleet) -> None:
        dev = await FakeDevice(DEV, fleet.coap_port).start()  # type: ignore[arg-type]
        try:
            await dev.register()
            payload = messages.encode("event", ff.event(DEV, 1, "alarm", lvl=2, lel=30.0))
            ctx = dev.ctx
            assert ctx is not None
            r1 = await _request(ctx, fleet.coap_port, "gg/ev", payload)  # type: ignore[arg-type]
            r2 = await _request(ctx, fleet.coap_port, "gg/ev", payload)  # type: ignore[arg-type]
            assert (r1.code, r2.code) == (Code.CHANGED, Code.CHANGED)
            a1, a2 = messages.decode("ack", r1.payload), messages.decode("ack", r2.payload)
            assert a1["seq"] == a2["seq"] == 1
        finally:
            await dev.stop()

    with_fleet(db, body)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.origin == "device")) == 1


def test_event__retransmitted_datagram__answered_from_dedup_cache(db: Database) -> None:
    """The same CON datagram (same message id) twice: aiocoap's duplicate detection answers the
    second with the stored response; the store sees it once."""

    async def body(fleet: Fleet) -> tuple[bytes, bytes]:
        msg = aiocoap.Message(code=Code.POST, payload=messages.encode("event", ff.event(DEV, 1, "boot")),
                              content_format=60, uri_path=("gg", "ev"))
        msg.mtype, msg.mid, msg.token = aiocoap.CON, 4242, b"\x01\x02"  # a device's own datagram
        data = msg.encode()
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.connect(("127.0.0.1", fleet.coap_port))
        try:
            answers = []
            for _ in range(2):
                await loop.sock_sendall(sock, data)
                answers.append(await asyncio.wait_for(loop.sock_recv(sock, 2048), 5))
            return answers[0], answers[1]
        finally:
            sock.close()

    first, second = with_fleet(db, body)
    assert first == second
    resp = aiocoap.Message.decode(first)
    assert resp.code == Code.CHANGED and resp.mid == 4242
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.origin == "device")) == 1


def test_event__gap__recorded(db: Database) -> None:
    async def body(fleet: Fleet) -> None:
        dev = await FakeDevice(DEV, fleet.coap_port).start()  # type: ignore[arg-type]
        try:
            await dev.register()
            await dev.event("boot")
            dev.seq += 3  # events 2..4 never sent
            await dev.event("fault", f=1)
        finally:
            await dev.stop()

    with_fleet(db, body)
    with db.session() as s:
        gap = s.scalars(select(SequenceGap)).one()
        assert (gap.device_id, gap.first_missing, gap.last_missing) == (DEV, 2, 4)


def test_malformed__refused_with_4_00_counted_and_server_keeps_going(db: Database) -> None:
    async def body(fleet: Fleet) -> dict[str, Any]:
        ctx = await aiocoap.Context.create_client_context()
        try:
            port = fleet.coap_port
            bad_field = await _request(ctx, port, "gg/ev", cbor.dumps({"dev": DEV, "seq": "x", "k": "boot", "up": 1}))
            bad_cbor = await _request(ctx, port, "gg/ev", b"\xff\x00garbage")
            wrong_cf = await _request(ctx, port, "gg/hb", messages.encode("heartbeat", ff.heartbeat(DEV)), cf=60)
            unknown = await _request(ctx, port, "gg/nope", b"", cf=None)
            wkc = await _request(ctx, port, ".well-known/core", b"", cf=None, code=Code.GET)
            # raw garbage that is not even CoAP must not stop the server
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.sendto(b"\x00\x01not coap", ("127.0.0.1", port))
            sock.close()
            ok = await _request(ctx, port, "gg/hb", messages.encode("heartbeat", ff.heartbeat(DEV)), cf=112)
            await asyncio.to_thread(fleet.counter.flush, fleet.db.sessions)
            return dict(bad_field=bad_field, bad_cbor=bad_cbor, wrong_cf=wrong_cf, unknown=unknown, wkc=wkc, ok=ok)
        finally:
            await ctx.shutdown()

    r = with_fleet(db, body)
    assert r["bad_field"].code == Code.BAD_REQUEST
    assert r["bad_field"].payload.decode() == "event.seq: expected uint, got text"
    assert r["bad_cbor"].code == Code.BAD_REQUEST
    assert r["bad_cbor"].payload.decode().startswith("event: not valid CBOR: ")
    assert r["wrong_cf"].code == Code.UNSUPPORTED_CONTENT_FORMAT
    assert r["wrong_cf"].payload.decode() == "/gg/hb takes content-format 112, got 60"
    assert r["unknown"].code == Code.NOT_FOUND
    assert r["wkc"].code == Code.CONTENT
    assert r["wkc"].payload.decode() == "</gg/reg>;ct=60,</gg/hb>;ct=112,</gg/ev>;ct=60,</gg/cr>;ct=60"
    assert r["ok"].code == Code.CHANGED
    with db.session() as s:
        counts = {(e.resource, e.reason): e.count for e in s.scalars(select(IngestError))}
    # the fast path also counts the datagram that is not CoAP (aiocoap drops it uncounted)
    malformed = {("coap", "malformed"): 1} if fleet_settings_ingest() == "fast" else {}
    assert counts == {("/gg/ev", "bad_message"): 1, ("/gg/ev", "bad_cbor"): 1,
                      ("/gg/hb", "unsupported_format"): 1, ("/gg/nope", "unknown_resource"): 1, **malformed}


def test_dedup_lifetime__configured_on_incoming_messages(db: Database) -> None:
    async def body(fleet: Fleet) -> tuple[float, int]:
        dev = await FakeDevice(DEV, fleet.coap_port).start()  # type: ignore[arg-type]
        try:
            await dev.register()
            await dev.heartbeat()
        finally:
            await dev.stop()
        assert fleet.coap is not None
        fast = len(fleet.fastpath.dedup) if fleet.fastpath is not None else 0  # its own cache, same lifetime
        assert fleet.fastpath is None or fleet.fastpath.dedup.lifetime_s == 12.5
        return fleet.coap.tuning.EXCHANGE_LIFETIME, fleet.coap.dedup_entries() + fast

    lifetime, entries = with_fleet(db, body, coap_dedup_lifetime_s=12.5)
    assert lifetime == 12.5 and entries == 2
    assert FleetTuning(30).EXCHANGE_LIFETIME == 30.0


def test_fleet_tuning__piggybacks_up_to_1_s() -> None:
    t = FleetTuning(15)
    assert t.EMPTY_ACK_DELAY == 1.0 < t.ACK_TIMEOUT  # an ack within 1 s stops any retransmission

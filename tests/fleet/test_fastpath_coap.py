"""fleet/coap/fastpath.py on a running fleet: real UDP datagrams in, the store and the answers
checked. (tests/fleet/coap/ runs the fleet's other CoAP tests against both ingest paths.)"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import aiocoap
import pytest
from aiocoap.numbers.codes import Code
from sqlalchemy import func, select

from fleet.runtime import Fleet
from fleet.store.db import Database
from fleet.store.models import Device, Event, IngestError, Reading
from protocol import cbor, messages
from utils import fleet_factories as ff
from utils.fleet_runtime import make_settings

DEV = "gg-a4cf12b3c4d5"


def with_fleet(db: Database, body: Callable[[Fleet, "Peer"], Awaitable[Any]], **kw: Any) -> Any:
    async def main() -> Any:
        fleet = Fleet(make_settings(db.url, coap_ingest="fast", **kw), database=Database(db.url))
        await fleet.start(background=False)
        peer = Peer(fleet.coap_port)  # type: ignore[arg-type]
        try:
            assert fleet.fastpath is not None
            return await body(fleet, peer)
        finally:
            peer.close()
            await fleet.stop()

    return asyncio.run(main())


class Peer:
    """A device's UDP socket: send a datagram, read the answer."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.connect(("127.0.0.1", port))

    async def ask(self, data: bytes, timeout: float = 10.0) -> bytes:
        self.sock.send(data)
        return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(self.sock, 2048), timeout)

    async def silent(self, data: bytes, wait: float = 0.3) -> bool:
        """True if nothing comes back (a dropped datagram)."""
        self.sock.send(data)
        try:
            await asyncio.wait_for(asyncio.get_running_loop().sock_recv(self.sock, 2048), wait)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        self.sock.close()


def con_post(path: str, payload: bytes, mid: int, token: bytes = b"\x07\x08", cf: int | None = 60) -> bytes:
    msg = aiocoap.Message(code=Code.POST, payload=payload, uri_path=tuple(path.split("/")))
    if cf is not None:
        msg.opt.content_format = cf
    msg.mtype, msg.mid, msg.token = aiocoap.CON, mid, token
    return msg.encode()


def reply(data: bytes) -> aiocoap.Message:
    return aiocoap.Message.decode(data)


def register(peer: Peer, mid: int = 1) -> Awaitable[bytes]:
    return peer.ask(con_post("gg/reg", messages.encode("registration", ff.registration(DEV)), mid))


def test_retransmitted_con__same_answer_from_cache_and_stored_once(sqlite_db: Database) -> None:
    async def body(fleet: Fleet, peer: Peer) -> tuple[bytes, bytes, bytes, bytes, int]:
        await register(peer)
        ev = con_post("gg/ev", messages.encode("event", ff.event(DEV, 1, "boot")), mid=500)
        hb = con_post("gg/hb", messages.encode("heartbeat", ff.heartbeat(DEV)), mid=501, cf=112)
        a1, a2 = await peer.ask(ev), await peer.ask(ev)
        h1, h2 = await peer.ask(hb), await peer.ask(hb)
        assert fleet.fastpath is not None
        return a1, a2, h1, h2, fleet.fastpath.duplicates

    a1, a2, h1, h2, dups = with_fleet(sqlite_db, body)
    assert a1 == a2 and h1 == h2 and dups == 2  # byte for byte the first answer
    r = reply(a1)
    assert r.mtype == aiocoap.ACK and r.code == Code.CHANGED and r.mid == 500 and r.token == b"\x07\x08"
    assert r.opt.content_format == 60 and messages.decode("ack", r.payload)["seq"] == 1
    with sqlite_db.session() as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.origin == "device")) == 1
        assert s.scalar(select(func.count()).select_from(Reading)) == 1


def test_event__same_device_and_seq_in_new_messages__acked_each_time_stored_once(db: Database) -> None:
    async def body(fleet: Fleet, peer: Peer) -> list[aiocoap.Message]:
        await register(peer)
        payload = messages.encode("event", ff.event(DEV, 7, "alarm", lvl=2, lel=30.0))
        return [reply(await peer.ask(con_post("gg/ev", payload, mid=600 + i))) for i in range(3)]

    answers = with_fleet(db, body)
    assert [a.code for a in answers] == [Code.CHANGED] * 3
    assert [messages.decode("ack", a.payload)["seq"] for a in answers] == [7, 7, 7]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.device_id == DEV, Event.seq == 7)) == 1


def test_heartbeats__stored_as_the_orm_path_stores_them(db: Database) -> None:
    """The first heartbeat of a registered device goes through the ORM (it comes online); the next
    ones through the executemany path: same rows, same ack."""

    async def body(fleet: Fleet, peer: Peer) -> list[dict[str, Any]]:
        await register(peer)
        acks = []
        for i, lel in enumerate((1.5, 2.5, 3.5)):
            hb = ff.heartbeat(DEV, lel=lel, fw="0.2.%d" % i, uptime=100 + i)
            acks.append(messages.decode("ack", reply(await peer.ask(con_post("gg/hb", messages.encode("heartbeat", hb),
                                                                               mid=700 + i, cf=112))).payload))
        return acks

    acks = with_fleet(db, body)
    assert all(set(a) == {"st", "pc"} and a["pc"] == 0 for a in acks)
    with db.session() as s:
        rows = s.scalars(select(Reading).order_by(Reading.id)).all()
        assert [(r.lel, r.uptime_s, r.alarm, r.valve) for r in rows] == [(1.5, 100, 0, 0), (2.5, 101, 0, 0), (3.5, 102, 0, 0)]
        d = s.scalars(select(Device).where(Device.device_id == DEV)).one()
        assert d.online and d.fw == "0.2.2" and d.address is not None and d.address.startswith("127.0.0.1:")
        assert d.health is not None and d.health["lel"] == 3.5 and "received_at" in d.health and "dev" not in d.health
        assert d.last_report_at is not None and d.last_report_at == rows[-1].at


def test_bad_input__error_codes_with_diagnostics_counted(sqlite_db: Database) -> None:
    async def body(fleet: Fleet, peer: Peer) -> dict[str, aiocoap.Message]:
        await register(peer)
        ev_ok = messages.encode("event", ff.event(DEV, 1, "boot"))
        cases = {
            "bad_field": con_post("gg/ev", cbor.dumps({"dev": DEV, "seq": "x", "k": "boot", "up": 1}), 10),
            "cut_short": con_post("gg/hb", bytes.fromhex("7801"), 11, cf=112),
            "trailing": con_post("gg/ev", ev_ok + b"\x00", 12),
            "tagged": con_post("gg/ev", b"\xc1\x01", 13),
            "uid_mismatch": con_post("gg/reg", messages.encode("registration", ff.registration(DEV, uid=b"\x09" * 6)), 14),
            "wrong_cf": con_post("gg/hb", messages.encode("heartbeat", ff.heartbeat(DEV)), 15, cf=60),
            "unknown": con_post("gg/nope", b"\xa0", 16),
        }
        out = {name: reply(await peer.ask(data)) for name, data in cases.items()}
        await asyncio.to_thread(fleet.counter.flush, fleet.db.sessions)
        return out

    r = with_fleet(sqlite_db, body)
    assert (r["bad_field"].code, r["bad_field"].payload) == (Code.BAD_REQUEST, b"event.seq: expected uint, got text")
    assert r["bad_field"].opt.content_format == 0 and r["bad_field"].mtype == aiocoap.ACK
    assert r["cut_short"].code == Code.BAD_REQUEST and r["cut_short"].payload.startswith(b"heartbeat: not valid CBOR: ")
    assert r["trailing"].payload == b"event: not valid CBOR: 1 trailing byte after the item"
    assert r["tagged"].code == Code.BAD_REQUEST and b"tag" in r["tagged"].payload
    assert r["uid_mismatch"].code == Code.CONFLICT and b"already registered with chip uid" in r["uid_mismatch"].payload
    assert r["wrong_cf"].code == Code.UNSUPPORTED_CONTENT_FORMAT  # handed to aiocoap, which answers as before
    assert r["unknown"].code == Code.NOT_FOUND
    with sqlite_db.session() as s:
        counts = {(e.resource, e.reason): e.count for e in s.scalars(select(IngestError))}
    assert counts == {("/gg/ev", "bad_message"): 1, ("/gg/hb", "bad_cbor"): 1, ("/gg/ev", "bad_cbor"): 2,
                      ("/gg/reg", "uid_mismatch"): 1, ("/gg/hb", "unsupported_format"): 1,
                      ("/gg/nope", "unknown_resource"): 1}


def test_malformed_datagrams__dropped_or_reset_counted_and_the_server_goes_on(sqlite_db: Database) -> None:
    async def body(fleet: Fleet, peer: Peer) -> tuple[bool, bool, bytes, bytes, bool]:
        short = await peer.silent(b"\x40\x02")
        version0 = await peer.silent(b"\x00\x02\x12\x34not coap")
        reset = await peer.ask(bytes.fromhex("49021235") + b"\x01" * 9 + b"\xff\xa0")  # CON, token length 9
        ok = await register(peer, mid=77)
        non_bad_tkl = await peer.silent(bytes.fromhex("5a021236") + b"\x02" * 10)  # NON, token length 10
        await asyncio.to_thread(fleet.counter.flush, fleet.db.sessions)
        return short, version0, reset, ok, non_bad_tkl

    short, version0, reset, ok, non_bad_tkl = with_fleet(sqlite_db, body)
    assert short and version0 and non_bad_tkl
    assert reset == bytes.fromhex("70001235")  # RST, same message ID
    assert reply(ok).code == Code.CHANGED
    with sqlite_db.session() as s:
        row = s.scalars(select(IngestError).where(IngestError.resource == "coap")).one()
    assert (row.reason, row.count) == ("malformed", 4) and row.last_detail == "token length 10 (at most 8)"


def test_plain_uplink_of_a_device_that_speaks_oscore__refused_by_the_aiocoap_path(sqlite_db: Database) -> None:
    """A plain message naming a device that speaks OSCORE is handed to aiocoap, whose resource
    refuses it (4.01) exactly as it does with coap_ingest = "aiocoap"; nothing is stored."""

    async def body(fleet: Fleet, peer: Peer) -> tuple[aiocoap.Message, aiocoap.Message, int]:
        await register(peer)
        assert fleet.coap is not None and fleet.coap.contexts is not None and fleet.fastpath is not None
        moved: list[str | None] = []
        fleet.coap.contexts.plain_from = moved.append  # type: ignore[method-assign]
        other = "gg-a4cf12b3c4d6"
        plain_ok = reply(await peer.ask(con_post("gg/reg", messages.encode("registration", ff.registration(other)), 89)))
        assert plain_ok.code == Code.CHANGED and len(moved) == 1 and moved[0].startswith("127.0.0.1:")  # type: ignore[union-attr]
        fleet.coap.contexts.requires_oscore = lambda dev: dev == DEV  # type: ignore[method-assign]
        before = fleet.fastpath.handed_over
        refused = reply(await peer.ask(con_post("gg/hb", messages.encode("heartbeat", ff.heartbeat(DEV)), 90, cf=112)))
        # a request with an OSCORE option (9) never matches the fast path's option bytes
        msg = aiocoap.Message(code=Code.POST, payload=b"\x00", uri_path=("gg", "hb"))
        msg.opt.oscore = b"\x09\x00\x01"
        msg.mtype, msg.mid, msg.token = aiocoap.CON, 91, b"\x01"
        protected = reply(await peer.ask(msg.encode()))
        return refused, protected, fleet.fastpath.handed_over - before

    refused, protected, handed = with_fleet(sqlite_db, body)
    assert refused.code == Code.UNAUTHORIZED and refused.payload == b"OSCORE required"
    assert protected.code in (Code.UNAUTHORIZED, Code.BAD_OPTION, Code.BAD_REQUEST)  # aiocoap's OSCORE site
    assert handed == 2
    with sqlite_db.session() as s:
        assert s.scalar(select(func.count()).select_from(Reading)) == 0


def test_failed_commit__5_03_nothing_cached_and_the_retransmission_is_stored(sqlite_db: Database) -> None:
    from sqlalchemy.exc import OperationalError

    async def body(fleet: Fleet, peer: Peer) -> tuple[aiocoap.Message, aiocoap.Message]:
        await register(peer)
        real = fleet.ingestor.process

        def broken(*_a: Any, **_k: Any) -> Any:
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))

        fleet.ingestor.process = broken  # type: ignore[method-assign]
        ev = con_post("gg/ev", messages.encode("event", ff.event(DEV, 4, "boot")), mid=880)
        first = reply(await peer.ask(ev))
        fleet.ingestor.process = real  # type: ignore[method-assign]
        return first, reply(await peer.ask(ev))  # the device's retransmission: same message id

    first, again = with_fleet(sqlite_db, body)
    assert first.code == Code.SERVICE_UNAVAILABLE and first.payload == b"the fleet could not store this message; retry later"
    assert again.code == Code.CHANGED and messages.decode("ack", again.payload)["seq"] == 4
    with sqlite_db.session() as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.seq == 4)) == 1


def test_standalone_socket__ingests_and_answers_anything_else_4_04(sqlite_db: Database) -> None:
    """FastPath as a DatagramProtocol of its own (no aiocoap behind it), as the benchmark can run it."""
    from fleet.coap.fastpath import FastPath
    from fleet.core.config import Settings
    from fleet.ingest.core import Ingestor
    from fleet.ingest.counters import ErrorCounter
    from fleet.ingest.writer import BatchWriter

    async def main() -> tuple[aiocoap.Message, aiocoap.Message, bool]:
        writer = BatchWriter(sqlite_db, Ingestor(Settings(db=sqlite_db.url)))
        await writer.start()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: FastPath(writer, ErrorCounter()),
                                                           local_addr=("127.0.0.1", 0))
        peer = Peer(transport.get_extra_info("sockname")[1])
        try:
            reg = reply(await register(peer))
            wkc = aiocoap.Message(code=Code.GET, uri_path=(".well-known", "core"))
            wkc.mtype, wkc.mid, wkc.token = aiocoap.CON, 5, b"\x05"
            other = reply(await peer.ask(wkc.encode()))
            ack_dropped = await peer.silent(bytes.fromhex("60000005"))  # an empty ACK: nothing to answer
            assert await peer.ask(bytes.fromhex("40000006")) == bytes.fromhex("70000006")  # ping -> RST
            return reg, other, ack_dropped
        finally:
            peer.close()
            transport.close()
            await writer.stop()

    reg, other, ack_dropped = asyncio.run(main())
    assert reg.code == Code.CHANGED and messages.decode("ack", reg.payload)["pc"] == 0
    assert other.code == Code.NOT_FOUND and other.payload == b"handled by the aiocoap server only" and other.mid == 5
    assert ack_dropped
    with sqlite_db.session() as s:
        assert s.scalar(select(func.count()).select_from(Device)) == 1


@pytest.mark.parametrize("ingest", ["fast", "aiocoap"])
def test_coap_socket__receive_buffer_enlarged_on_both_paths(sqlite_db: Database, ingest: str) -> None:
    from fleet.coap.tuning import message_managers

    async def main() -> int:
        fleet = Fleet(make_settings(sqlite_db.url, coap_ingest=ingest), database=Database(sqlite_db.url))
        await fleet.start(background=False)
        try:
            assert fleet.coap is not None and fleet.coap.context is not None
            assert (fleet.fastpath is not None) == (ingest == "fast")
            socks = [mm.message_interface.transport.get_extra_info("socket") for mm in message_managers(fleet.coap.context)
                     if getattr(mm.message_interface, "transport", None) is not None]
            return min(s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) for s in socks)
        finally:
            await fleet.stop()

    with open("/proc/sys/net/core/rmem_max") as f:
        cap = int(f.read())
    # the kernel reports twice what was granted; the default here is ~208 KB
    assert asyncio.run(main()) >= 2 * min(cap, 4 << 20)


def test_heartbeat__device_with_a_command_waiting__ack_carries_it(sqlite_db: Database) -> None:
    """Such heartbeats take the ORM path (the ack offers the command); the others stay plain."""
    from fleet.services import commands

    async def body(fleet: Fleet, peer: Peer) -> tuple[dict[str, Any], dict[str, Any]]:
        await register(peer)
        hb = lambda mid: con_post("gg/hb", messages.encode("heartbeat", ff.heartbeat(DEV)), mid=mid, cf=112)  # noqa: E731
        plain = messages.decode("ack", reply(await peer.ask(hb(40))).payload)
        with fleet.db.session() as s:
            commands.create(s, device_id=DEV, op="selftest", created_by="test", ttl_s=600)
            s.commit()
        return plain, messages.decode("ack", reply(await peer.ask(hb(41))).payload)

    plain, with_cmd = with_fleet(sqlite_db, body)
    assert plain["pc"] == 0 and "cmds" not in plain
    assert with_cmd["pc"] == 1 and [c["op"] for c in with_cmd["cmds"]] == ["selftest"]

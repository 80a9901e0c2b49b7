"""Ingest workers (fleet/coap/ingest_worker.py, workers.py, relay.py): real worker processes
sharing a running fleet's CoAP port, devices on many source ports, the store and answers checked."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from pathlib import Path
from typing import Any

import aiocoap
import pytest
from aiocoap.numbers.codes import Code
from sqlalchemy import func, select

from fleet.coap import relay
from fleet.coap.fastpath import FastPath
from fleet.coap.ingest_worker import KeyedDevices
from fleet.ingest.core import Ingestor
from fleet.ingest.counters import ErrorCounter
from fleet.ingest.writer import BatchWriter
from fleet.provision.models import DeviceCredential
from fleet.runtime import Fleet
from fleet.store.db import Database
from fleet.store.migrate import upgrade
from fleet.store.models import Device, Event, Reading
from protocol import messages
from utils import fleet_factories as ff
from utils.fake_device import FakeDevice
from utils.fleet_runtime import make_settings
from test_oscore_fleet import OscoreDevice, device_context, issue_key  # the same OSCORE devices

N_DEVICES = 32


def con_post(path: str, payload: bytes, mid: int, cf: int) -> bytes:
    msg = aiocoap.Message(code=Code.POST, payload=payload, uri_path=tuple(path.split("/")))
    msg.opt.content_format = cf
    msg.mtype, msg.mid, msg.token = aiocoap.CON, mid, mid.to_bytes(2, "big")
    return msg.encode()


class Device_:
    """One device: its own UDP socket (its own source port, so the kernel picks its process)."""

    def __init__(self, i: int, port: int) -> None:
        self.dev = "gg-%012x" % (0xA4CF00000000 + i)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.connect(("127.0.0.1", port))
        self.mid = 100

    async def ask(self, path: str, kind: str, body: dict[str, Any], cf: int) -> aiocoap.Message:
        self.mid += 1
        data = con_post(path, messages.encode(kind, body), self.mid, cf)
        loop = asyncio.get_running_loop()
        for _ in range(4):  # a datagram lost while a worker restarts is sent again, as a device would
            self.sock.send(data)
            try:
                answer = aiocoap.Message.decode(await asyncio.wait_for(loop.sock_recv(self.sock, 2048), 3.0))
            except TimeoutError:
                continue
            assert answer.mid == self.mid and answer.token == self.mid.to_bytes(2, "big")
            return answer
        raise AssertionError(f"{self.dev}: no answer to {path}")

    def close(self) -> None:
        self.sock.close()


async def _exchange(fleet: Fleet, rounds: int) -> list[aiocoap.Message]:
    devices = [Device_(i, fleet.coap_port) for i in range(N_DEVICES)]  # type: ignore[arg-type]
    try:
        answers = list(await asyncio.gather(*(d.ask("gg/reg", "registration", ff.registration(d.dev), 60)
                                              for d in devices)))
        for r in range(rounds):
            answers += await asyncio.gather(*(d.ask("gg/hb", "heartbeat", ff.heartbeat(d.dev, lel=float(r)), 112)
                                              for d in devices))
        answers += await asyncio.gather(*(d.ask("gg/ev", "event", ff.event(d.dev, 1, "boot"), 60) for d in devices))
        return answers
    finally:
        for d in devices:
            d.close()


def test_workers__share_the_port__heartbeats_stored_rest_relayed_and_answered(db: Database) -> None:
    async def main() -> tuple[list[aiocoap.Message], dict[str, Any]]:
        fleet = Fleet(make_settings(db.url, coap_ingest="fast", ingest_workers=1), database=Database(db.url))
        await fleet.start(background=False)
        try:
            assert fleet.workers is not None and fleet.workers.pids
            answers = await _exchange(fleet, rounds=3)
            relayed = fleet.workers.summary()["relayed"]
            workers = fleet.workers
        finally:
            await fleet.stop()
        return answers, {**workers.summary(), "relayed": relayed}

    answers, summary = asyncio.run(main())
    assert [a.code for a in answers] == [Code.CHANGED] * (N_DEVICES * 5)
    stats = summary["stats"][0]
    # 32 devices on their own ports: both processes got some (the odds of all on one: 2 in 2^32)
    assert 0 < stats["taken"] < N_DEVICES * 3, summary
    assert summary["relayed"] == stats["relayed"] > 0  # the worker's registrations and events
    assert stats["stored"] == stats["taken"] and stats["failed_batches"] == 0
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Reading)) == N_DEVICES * 3
        assert s.scalar(select(func.count()).select_from(Device).where(Device.online.is_(True))) == N_DEVICES
        assert s.scalar(select(func.count()).select_from(Event).where(Event.origin == "device")) == N_DEVICES


def test_workers__a_killed_worker_is_started_again_and_ingest_goes_on(sqlite_db: Database) -> None:
    async def main() -> tuple[int, int, list[aiocoap.Message]]:
        fleet = Fleet(make_settings(sqlite_db.url, coap_ingest="fast", ingest_workers=1),
                      database=Database(sqlite_db.url))
        await fleet.start(background=False)
        try:
            assert fleet.workers is not None
            first = fleet.workers.pids[0]
            os.kill(first, signal.SIGKILL)
            for _ in range(100):  # restarted after 1 s
                await asyncio.sleep(0.1)
                if fleet.workers.pids[0] != first and fleet.workers._ready[0].is_set():  # noqa: SLF001
                    break
            answers = await _exchange(fleet, rounds=1)
            return first, fleet.workers.pids[0], answers
        finally:
            await fleet.stop()

    first, second, answers = asyncio.run(main())
    assert second != first
    assert [a.code for a in answers] == [Code.CHANGED] * (N_DEVICES * 3)
    with sqlite_db.session() as s:
        assert s.scalar(select(func.count()).select_from(Reading)) == N_DEVICES


def test_worker_fast_path__takes_heartbeats_only__keyed_devices_left_to_the_main_process(sqlite_db: Database) -> None:
    """In-process: what a worker's fast path takes and what it relays."""
    with sqlite_db.session() as s:
        s.add(DeviceCredential(device_id="gg-a4cf000000aa", master_secret="00" * 16, master_salt="", sender_id="01",
                               recipient_id="02", id_context="", issued_to="test"))
        s.commit()
    keyed = KeyedDevices(sqlite_db)
    assert keyed.refresh() == 1 and keyed.refresh() == 0 and keyed.requires_oscore("gg-a4cf000000aa")
    sent: list[bytes] = []

    async def main() -> list[bool]:
        writer = BatchWriter(sqlite_db, Ingestor(make_settings(sqlite_db.url)))
        await writer.start()
        fast = FastPath(writer, ErrorCounter(), contexts=keyed, kinds=frozenset({"heartbeat"}))
        fast.send = lambda data, addr, anc: sent.append(data)
        addr = ("::ffff:127.0.0.1", 40000, 0, 0)
        try:
            return [fast.receive(con_post(p, messages.encode(k, b), 1 + i, cf), addr, [])
                    for i, (p, k, b, cf) in enumerate((
                        ("gg/reg", "registration", ff.registration("gg-a4cf000000bb"), 60),
                        ("gg/ev", "event", ff.event("gg-a4cf000000bb", 1, "boot"), 60),
                        ("gg/hb", "heartbeat", ff.heartbeat("gg-a4cf000000aa"), 112),
                        ("gg/hb", "heartbeat", ff.heartbeat("gg-a4cf000000bb"), 112)))]
        finally:
            await writer.stop()

    assert asyncio.run(main()) == [False, False, False, True]
    assert len(sent) == 1  # the one heartbeat taken was answered (unregistered: the ORM path refuses it)


def test_relay__round_trip__wrong_token_and_truncation_named() -> None:
    token = b"k" * relay.TOKEN_BYTES
    addr = ("::ffff:10.1.2.3", 61000, 0, 0)
    msg = relay.pack(token, b"\x40\x02\x00\x01", addr, b"\x00" * 20)
    assert relay.unpack(token, msg) == (b"\x40\x02\x00\x01", addr, b"\x00" * 20)
    assert relay.unpack(token, relay.pack(token, b"x", addr, None)) == (b"x", addr, None)
    with pytest.raises(ValueError, match="wrong token"):
        relay.unpack(b"z" * relay.TOKEN_BYTES, msg)
    with pytest.raises(ValueError, match="shorter than its header"):
        relay.unpack(token, msg[:20])
    with pytest.raises(ValueError, match="packet info"):
        relay.unpack(token, msg[: relay.TOKEN_BYTES + 11 + len(addr[0]) + 1 + 5])
    got: list[Any] = []
    bad: list[str] = []
    ep = relay.RelayEndpoint(token, lambda *a: got.append(a), bad.append)
    ep.datagram_received(msg, ("127.0.0.1", 1))
    ep.datagram_received(b"\x00" * 60, ("127.0.0.1", 1))
    assert got == [(b"\x40\x02\x00\x01", [(*relay.PKTINFO, b"\x00" * 20)], 0, addr)]
    assert (ep.relayed, ep.refused) == (1, 1) and "wrong token" in bad[0]


def test_workers__oscore_devices_served_through_the_relay__plain_impersonation_refused(tmp_path: Path) -> None:
    """OSCORE stays with the main process (one process per device context): protected uplinks a
    worker receives are relayed, answered, stored once; a plain uplink naming a device that
    speaks OSCORE is refused whichever process the kernel gives it to."""
    url = f"sqlite:///{tmp_path}/fleet.db"
    upgrade(url)
    db = Database(url)
    ids = ["gg-05c0a00001%02x" % i for i in range(16)]
    keys = {d: issue_key(db, d) for d in ids}

    async def main() -> tuple[list[int], list[tuple[Any, bytes]], dict[str, Any]]:
        fleet = Fleet(make_settings(url, ingest_workers=1))
        await fleet.start(background=False)
        assert fleet.coap_port is not None and fleet.workers is not None
        devices = [await OscoreDevice(d, fleet.coap_port, device_context(tmp_path / d, keys[d])).start() for d in ids]
        plains = [await FakeDevice(d, fleet.coap_port).start() for d in ids]
        try:
            for dev in devices:
                await dev.register()
                await dev.heartbeat()
            seqs = [(await dev.event("alarm"))["seq"] for dev in devices]
            refused = [await p.post("gg/hb", "heartbeat", ff.heartbeat(p.device_id)) for p in plains]
            summary = fleet.workers.summary()
        finally:
            for x in (*devices, *plains):
                await x.stop()
            await fleet.stop()
        return seqs, refused, summary

    seqs, refused, summary = asyncio.run(main())
    assert seqs == [1] * len(ids)
    assert refused == [(Code.UNAUTHORIZED, b"OSCORE required")] * len(ids)
    assert summary["relayed"] > 0  # 32 sockets: the worker got some of them, and relayed them all
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.origin == "device")) == len(ids)
        assert s.scalar(select(func.count()).select_from(Reading)) == len(ids)

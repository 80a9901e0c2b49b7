"""bench/perf/proto_ingest.py, the measured proposal: it must keep the protocol's promises
(duplicate detection, idempotent events, ack only after commit, aiocoap for the rest)."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import aiocoap
import cbor2
import pytest

from bench.perf import coapwire, fleetstore, payloads, procs
from bench.perf.scenarios import fleet_available

pytestmark = pytest.mark.skipif(fleet_available() is not None, reason="fleet not written yet")


@pytest.fixture(params=["aiocoap", "raw"])
def server(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    url = "sqlite:///%s" % (tmp_path / "p.db")
    fleetstore.prepare(url)
    port = procs.free_port()
    srv = procs.Server("proposal", [sys.executable, "-m", "bench.perf.proto_ingest", "--db", url, "--port", str(port),
                                    "--front", request.param], port, log=tmp_path / "proposal.log")
    srv.start()
    yield srv, url, request.param
    srv.stop()


def _post(sock: socket.socket, port: int, mid: int, path: str, body: bytes) -> bytes:
    packet = coapwire.header(coapwire.CON, 2, coapwire.POST, mid) + b"\x00\x01" + payloads.tail(path, body)
    sock.sendto(packet, ("127.0.0.1", port))
    data, _ = sock.recvfrom(2048)
    return data


def test_proposal__retransmission_answered_alike_and_stored_once(server) -> None:  # type: ignore[no-untyped-def]
    srv, url, _ = server
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        reg = payloads.registration(1, fleetstore.BENCH_MODEL, "virtual", "1.0.0")
        first = _post(s, srv.coap_port, 100, payloads.PATH_REG, reg)
        again = _post(s, srv.coap_port, 100, payloads.PATH_REG, reg)  # same message ID: a retransmission
        assert coapwire.parse_head(first)[:3] == (coapwire.ACK, coapwire.CHANGED, 100)
        assert again == first
        ev = payloads.alarm_event(1, 1, 4000)
        a = _post(s, srv.coap_port, 101, payloads.PATH_EV, ev)
        b = _post(s, srv.coap_port, 102, payloads.PATH_EV, ev)  # the same event under a new message ID
        assert coapwire.parse_head(a)[1] == coapwire.parse_head(b)[1] == coapwire.CHANGED
        assert cbor2.loads(coapwire.payload_of(b))["seq"] == 1
        hb = _post(s, srv.coap_port, 103, payloads.PATH_HB, payloads.heartbeat(1, "1.0.0"))
        assert coapwire.parse_head(hb)[1] == coapwire.CHANGED
        bad = _post(s, srv.coap_port, 104, payloads.PATH_EV, b"\xa1\x63dev\x01")
        assert coapwire.parse_head(bad)[1] == 0x80  # 4.00, naming the problem
        assert b"dev" in coapwire.payload_of(bad)
    counts = fleetstore.counts(url)
    assert counts == {"devices": 1, "readings": 1, "events": 1, "alarms_open": 1}


def test_proposal__aiocoap_front_serves_the_rest(server) -> None:  # type: ignore[no-untyped-def]
    srv, _, front = server

    async def get_wkc() -> aiocoap.Message:
        ctx = await aiocoap.Context.create_client_context()
        try:
            req = aiocoap.Message(code=aiocoap.GET, uri="coap://127.0.0.1:%d/.well-known/core" % srv.coap_port)
            return await asyncio.wait_for(ctx.request(req).response, 10)
        finally:
            await ctx.shutdown()

    resp = asyncio.run(get_wkc())
    if front == "aiocoap":
        assert resp.code == aiocoap.CONTENT
        assert b"</gg/hb>" in resp.payload
    else:
        assert resp.code == aiocoap.BAD_OPTION  # the raw front only ingests


def test_proposal__failed_commit_acknowledges_nothing_and_the_retry_is_stored(server) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    from fleet.store.base import Base
    from fleet.store.db import Database
    from fleet.store.models import Reading

    srv, url, _ = server
    path = url[len("sqlite:///"):]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(15)
        reg = _post(s, srv.coap_port, 200, payloads.PATH_REG, payloads.registration(2, fleetstore.BENCH_MODEL, "virtual", "1.0.0"))
        assert coapwire.parse_head(reg)[1] == coapwire.CHANGED
        with sqlite3.connect(path) as db:
            db.execute("DROP TABLE readings")  # the next commit of a heartbeat fails
        hb = payloads.heartbeat(2, "1.0.0")
        failed = _post(s, srv.coap_port, 201, payloads.PATH_HB, hb)
        assert coapwire.parse_head(failed)[1] == 0xA3  # 5.03: not stored, not acknowledged
        database = Database(url)
        Base.metadata.create_all(database.engine, tables=[Reading.__table__])
        database.dispose()
        retry = _post(s, srv.coap_port, 201, payloads.PATH_HB, hb)  # the device's retransmission
        assert coapwire.parse_head(retry)[1] == coapwire.CHANGED
    assert fleetstore.counts(url)["readings"] == 1

"""The real app on MicroPython (simulated machine, real time, real UDP) against a small aiocoap
server standing in for the fleet: events reach the fleet in order with no gap in sequence
numbers across a fleet outage and a power cut (the process killed), and the fleet's command in
an ack closes the valve."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiocoap
import cbor2
import pytest

from fw_fleet import Fleet, free_udp_port, kill, start_board, start_server, wait_for, write_root
from protocol import messages

pytestmark = pytest.mark.slow


def test_events_survive_fleet_outage_and_power_cut_with_no_gap(tmp_path: Path) -> None:
    async def scenario() -> None:
        fleet = Fleet()
        port = free_udp_port()
        write_root(tmp_path, port)
        server = await start_server(fleet, port)
        proc = await start_board(tmp_path, [[1.0, "set_gas", {"gas": "methane", "value": 40.0}]])
        try:
            await wait_for(lambda: fleet.regs, 20, "registration", proc)
            await wait_for(lambda: any(e["k"] == "valve_closed" for e in fleet.events.values()),
                           30, "alarm and valve_closed", proc)
            # fleet outage: the gas goes away meanwhile, alarm_clear waits on flash
            await server.shutdown()
            n_before = len(fleet.events)
            await asyncio.sleep(0.5)
            # (the board's scenario cannot reach the gas now; use a second board run below)
            out1 = await kill(proc)  # power cut during the outage
            proc = await start_board(tmp_path, [[0.5, "set_gas", {"gas": "methane", "value": 0.0}]])
            await asyncio.sleep(6.0)  # it boots, clears the alarm, cannot reach the fleet
            hbs_before = len(fleet.hbs)  # a slow first run may have sent one already
            server = await start_server(fleet, port)
            await wait_for(lambda: any(e["k"] == "alarm_clear" for e in fleet.events.values()),
                           30, "alarm_clear after the outage", proc)
            await wait_for(lambda: len(fleet.hbs) > hbs_before, 20, "a heartbeat after the cut", proc)
        finally:
            out = await kill(proc)
            await server.shutdown()
        seqs = sorted(fleet.events)
        assert seqs == list(range(1, len(seqs) + 1)), (seqs, out1[-2000:], out[-2000:])
        kinds = [fleet.events[s]["k"] for s in seqs]
        assert kinds[0] == "boot" and kinds.count("boot") == 2
        assert "alarm" in kinds and "valve_closed" in kinds and "alarm_clear" in kinds
        assert kinds.index("alarm_clear") > kinds.index("alarm")
        assert len(fleet.events) > n_before
        # the second registration carried the last sequence number used before the cut
        assert fleet.regs[-1]["seq"] >= n_before
        hb = fleet.hbs[-1]
        assert hb["dev"] == "gg-int01" and hb["last_seq"] >= seqs[-1] - 1

    asyncio.run(scenario())


def test_command_in_an_ack_closes_the_valve_and_the_result_comes_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        fleet = Fleet()
        fleet.cmds = [{"id": 41, "op": "close_valve"}, {"id": 42, "op": "selftest"}]
        port = free_udp_port()
        write_root(tmp_path, port)
        server = await start_server(fleet, port)
        proc = await start_board(tmp_path, [])
        try:
            await wait_for(lambda: len(fleet.results) >= 2, 30, "command results", proc)
            await wait_for(lambda: any(e["k"] == "valve_closed" for e in fleet.events.values()),
                           20, "valve_closed", proc)
        finally:
            await kill(proc)
            await server.shutdown()
        by_id = {r["id"]: r for r in fleet.results}
        assert by_id[41]["st"] == "done" and by_id[42]["st"] == "done" and by_id[42]["ok"] is True
        closed = [e for e in fleet.events.values() if e["k"] == "valve_closed"]
        assert closed[0]["src"] == "command"

    asyncio.run(scenario())


def test_the_device_answers_health_and_close_on_the_same_socket(tmp_path: Path) -> None:
    async def scenario() -> None:
        fleet = Fleet()
        port = free_udp_port()
        dev_port = free_udp_port()
        write_root(tmp_path, port, coap_port=dev_port)
        server = await start_server(fleet, port)
        proc = await start_board(tmp_path, [])
        client = await aiocoap.Context.create_client_context()
        try:
            await wait_for(lambda: fleet.regs, 20, "registration", proc)
            uri = "coap://127.0.0.1:%d" % dev_port
            r = await client.request(aiocoap.Message(code=aiocoap.GET, uri=uri + "/health")).response
            assert r.code == aiocoap.CONTENT and r.opt.content_format == 112
            h = messages.decode("heartbeat", r.payload)
            assert h["dev"] == "gg-int01" and h["valve"] == 0
            r = await client.request(aiocoap.Message(code=aiocoap.GET, uri=uri + "/.well-known/core")).response
            assert b"</valve/close>;ct=60" in r.payload
            r = await client.request(aiocoap.Message(code=aiocoap.POST, uri=uri + "/valve/close")).response
            assert r.code == aiocoap.CHANGED
            assert messages.decode("command_result", r.payload)["st"] == "done"
            bad = cbor2.dumps({"id": 5, "op": "open_valve"})
            r = await client.request(aiocoap.Message(code=aiocoap.POST, uri=uri + "/cmd", payload=bad,
                                                     content_format=60)).response
            assert r.code == aiocoap.BAD_REQUEST
            assert b"command.op" in r.payload
            r = await client.request(aiocoap.Message(code=aiocoap.GET, uri=uri + "/nothing")).response
            assert r.code == aiocoap.NOT_FOUND
            await wait_for(lambda: any(e["k"] == "valve_closed" for e in fleet.events.values()),
                           20, "valve_closed", proc)
        finally:
            await client.shutdown()
            await kill(proc)
            await server.shutdown()

    asyncio.run(scenario())

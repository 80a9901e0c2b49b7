"""The factory image of the app (compiled .mpy, as flashed) on the virtual board
(boards/sim: real MicroPython, littlefs image, pty, power cuts by SIGKILL), against an aiocoap
server standing in for the fleet. Real time, so only the behaviours that need the whole board:
alarm timing at 1.6 x the set point with the default 15 s window, the valve closed by the app,
and the events surviving a fleet outage and a power cut during the alarm with no gap."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from fw_fleet import Fleet, free_udp_port, start_server

pytestmark = pytest.mark.slow


async def wait_for(pred, timeout: float, what: str, board=None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        await asyncio.sleep(0.1)
    tail = bytes(board.console[-3000:]).decode(errors="replace") if board is not None else ""
    raise AssertionError("timed out waiting for %s\nconsole:\n%s" % (what, tail))


def test_virtual_board__alarm_timing_valve_and_gap_free_events_across_outage_and_power_cut(
        virtual_boards, tmp_path: Path) -> None:
    image = pytest.importorskip("boards.image")
    img = tmp_path / "factory-vfs.img"
    img.write_bytes(image.build_vfs_image("sim"))

    async def scenario() -> None:
        fleet = Fleet()
        port = free_udp_port()
        server = await start_server(fleet, port)
        config = {"device_id": "gg-vb01", "model": "GG-T", "site": "S1",
                  "fleet": {"host": "127.0.0.1", "port": port}, "heartbeat_s": 5,
                  "coap_port": 0, "alarm": {"clear_s": 3}, "sensor": {"comparator": False}}
        # heapsize: the sim itself takes ~70 KB and its event log up to ~120 KB of the heap;
        # the app's own footprint is measured by firmware/footprint.py, not here
        b = await asyncio.to_thread(virtual_boards, image=img, heapsize="640k",
                                    files={"/config.json": json.dumps(config).encode()})
        try:
            await wait_for(lambda: fleet.regs, 30, "registration", b)
            assert fleet.regs[0]["board"] == "sim" and fleet.regs[0]["seq"] >= 1
            await asyncio.to_thread(b.set_gas, "methane", 40.0)  # 1.6 x the 25 %LEL set point
            step = b.events_of("control")[-1]["t"]
            red = await asyncio.to_thread(
                b.wait_event, lambda e: e["ev"] == "led" and e["n"] == "red" and e["v"] == 1, 45)
            assert 15000 <= red["t"] - step <= 30000, red["t"] - step
            closed = await asyncio.to_thread(
                b.wait_event, lambda e: e["ev"] == "valve" and e["v"] == "closed", 10)
            assert closed["t"] - step <= 32000
            await wait_for(lambda: {"alarm", "valve_closed"} <= {e["k"] for e in fleet.events.values()},
                           20, "alarm and valve_closed at the fleet", b)
            # the fleet goes away, then the power, in the middle of the alarm
            await server.shutdown()
            await asyncio.to_thread(b.power_cut)
            await asyncio.to_thread(b.power_restore)
            await asyncio.sleep(3)
            assert b.valve_state == "closed"  # stays closed after the reboot
            await asyncio.to_thread(b.set_gas, "methane", 0.0)
            await asyncio.sleep(8)  # the alarm clears while the fleet is still away
            server = await start_server(fleet, port)
            await wait_for(lambda: any(e["k"] == "alarm_clear" for e in fleet.events.values()),
                           60, "alarm_clear after the outage", b)
        finally:
            await server.shutdown()
        seqs = sorted(fleet.events)
        assert seqs == list(range(1, len(seqs) + 1)), seqs
        kinds = [fleet.events[s]["k"] for s in seqs]
        boots = [(fleet.events[s]["up"], fleet.events[s].get("boot")) for s in seqs if fleet.events[s]["k"] == "boot"]
        assert kinds.count("boot") == 2 and kinds.count("valve_closed") == 1, (kinds, boots, b.boots)
        assert kinds.index("alarm") < kinds.index("alarm_clear")
        assert fleet.events[seqs[kinds.index("boot", 1)]]["boot"] == 1  # power-on
        assert b.valve_state == "closed"  # the firmware never opened it
        drive = [e["v"] for e in b.events if e["ev"] == "out" and e["n"] == "valve_drive"]
        assert drive and drive.count(1) == drive.count(0) == 1  # one close pulse, nothing else
        assert not b.dead_reason

    asyncio.run(scenario())

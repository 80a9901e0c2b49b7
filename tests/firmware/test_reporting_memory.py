"""Safety first when memory runs out: on the virtual board (real MicroPython, factory image as
flashed) with a heap too small for the reporting stack, the app pauses reporting, gives its
memory back, and detection goes on within the standard's limits: the comparator closes the
valve at once and the alarm comes within 30 s of a 1.6 x set-point leak."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from fw_fleet import Fleet, free_udp_port, start_server

pytestmark = pytest.mark.slow

# The default board heap (boards/sim/board.py DEFAULT_HEAP) holds the whole app; this one holds
# the sim and detection but not the reporting stack beside them (docs/boards.md, "Heap").
SHORT_HEAP = "248k"


def _console(board) -> str:
    return bytes(board.console).decode(errors="replace")


def test_reporting_without_memory_pauses_and_detection_still_alarms_and_closes(
        virtual_boards, tmp_path: Path) -> None:
    image = pytest.importorskip("boards.image")
    img = tmp_path / "factory-vfs.img"
    img.write_bytes(image.build_vfs_image("sim"))

    async def scenario() -> tuple[float, float, str]:
        fleet = Fleet()
        port = free_udp_port()
        server = await start_server(fleet, port)
        config = {"device_id": "gg-oom01", "model": "GG-T", "site": "S1",
                  "fleet": {"host": "127.0.0.1", "port": port}, "heartbeat_s": 5,
                  "coap_port": 0}
        try:
            b = await asyncio.to_thread(virtual_boards, image=img, heapsize=SHORT_HEAP,
                                        files={"/config.json": json.dumps(config).encode()})
            end = time.monotonic() + 60
            while "reporting paused: no memory" not in _console(b):  # at start or later
                assert time.monotonic() < end, "reporting never paused:\n" + _console(b)[-3000:]
                await asyncio.sleep(0.5)
            await asyncio.to_thread(b.set_gas, "methane", 40.0)  # 1.6 x the 25 %LEL set point
            step = b.events_of("control")[-1]["t"]
            red = await asyncio.to_thread(
                b.wait_event, lambda e: e["ev"] == "led" and e["n"] == "red" and e["v"] == 1, 45)
            closed = [e for e in b.events if e["ev"] == "valve" and e["v"] == "closed"]
            assert closed, "valve never closed:\n" + _console(b)[-3000:]
            return (red["t"] - step) / 1000, (closed[0]["t"] - step) / 1000, _console(b)
        finally:
            await server.shutdown()

    alarm_s, closed_s, console = asyncio.run(scenario())
    assert alarm_s <= 30.0, (alarm_s, console[-3000:])
    assert closed_s <= 30.0, (closed_s, console[-3000:])  # the comparator path: at once
    # only the network tasks ever failed; detection's tasks never crashed
    for task in ("sample", "valve", "indicate"):
        assert "task %s crashed" % task not in console, console[-3000:]

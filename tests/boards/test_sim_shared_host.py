"""Several virtual boards on one host, each listening on CoAP's default port as the firmware
does on a real network: each still gets its own answers (docs/boards.md, section 7)."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "firmware"))
from fw_fleet import Fleet, free_udp_port, start_server  # noqa: E402

pytestmark = pytest.mark.slow


def test_two_boards_on_the_default_coap_port_both_register_and_heartbeat(virtual_boards, tmp_path: Path) -> None:
    image = pytest.importorskip("boards.image")
    img = tmp_path / "factory-vfs.img"
    img.write_bytes(image.build_vfs_image("sim"))

    async def scenario() -> Fleet:
        fleet = Fleet()
        port = free_udp_port()
        server = await start_server(fleet, port)
        try:
            for i in range(2):
                config = {"device_id": "gg-host%d" % i, "model": "GG-T", "site": "S1",
                          "fleet": {"host": "127.0.0.1", "port": port}, "heartbeat_s": 5}
                await asyncio.to_thread(virtual_boards, image=img,
                                        files={"/config.json": json.dumps(config).encode()})
            # one request in flight per board: a board whose answers went to the other one
            # stalls after its first uplinks and never sends its third heartbeat
            end = time.monotonic() + 45
            while min(_beats(fleet, "gg-host0"), _beats(fleet, "gg-host1")) < 3:
                assert time.monotonic() < end, [(k, o.get("dev")) for k, o in fleet.posts]
                await asyncio.sleep(0.2)
        finally:
            await server.shutdown()
        return fleet

    fleet = asyncio.run(scenario())
    assert sorted(r["dev"] for r in fleet.regs)[:2] == ["gg-host0", "gg-host1"]


def _beats(fleet: Fleet, dev: str) -> int:
    return sum(1 for h in fleet.hbs if h["dev"] == dev)

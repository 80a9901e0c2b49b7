"""End to end: a virtual board (boards/sim, default heap) running the real firmware from the
factory image, with the key the fleet issued (fleet/provision) in its /config.json, talking
OSCORE to the real fleet (fleet/coap/oscore_*.py):

- its protected registration and heartbeats are stored, and the fleet records that it speaks
  OSCORE; the fleet's protected GET /health is answered;
- the fleet restarts cleanly, then crashes: the board keeps talking (after the crash through the
  Echo round trip), with no replay refused and a fleet sequence number never reused;
- the board reboots: its sequence numbers continue from its flash record, none refused.

Runs on the VirtualBoard's default heap."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from boards.image import build_vfs_image
from fleet.provision import service
from fleet.provision.models import DeviceCredential
from fleet.provision.steps import config_bytes
from fleet.runtime import Fleet
from fleet.store.db import Database
from fleet.store.migrate import upgrade
from fleet.store.models import Device
from utils.fleet_runtime import make_settings
from utils.virtual_board import virtual_boards  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.slow, pytest.mark.micropython]
DEV = "gg-240ac40b0a4d"


def _device(db: Database) -> Device | None:
    with db.session() as s:
        return s.scalars(select(Device).where(Device.device_id == DEV)).first()


async def _until(what: str, fn: Any, board: Any, timeout: float = 30.0) -> Any:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        value = fn()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; board console:\n"
                         + board.console[-3000:].decode(errors="replace"))


def test_oscore_board__firmware_talks_oscore_to_the_fleet_across_restarts_and_reboot(
        tmp_path: Path, virtual_boards: Any) -> None:  # noqa: F811
    url = f"sqlite:///{tmp_path}/fleet.db"
    upgrade(url)
    db = Database(url)
    with db.session() as s:
        _, tok = service.issue_token(s, installer="Wang Wei", issued_by="op1")
        osc = service.device_key(s, device_id=DEV, uid="240ac40b0a4d", token=tok).oscore
        s.commit()
    assert osc is not None

    async def main() -> None:
        fleet = Fleet(make_settings(url))
        await fleet.start(background=False)
        port = fleet.coap_port
        settings = make_settings(url, coap_port=port)
        cfg = {"device_id": DEV, "site": "XY000123", "gas": "methane", "fleet": {"host": "127.0.0.1", "port": port},
               "heartbeat_s": 5, "coap_port": 0, "oscore": osc}
        image = tmp_path / "vfs.img"
        image.write_bytes(build_vfs_image("sim", extra_files={"/config.json": config_bytes(cfg)}))
        board = virtual_boards("sim", image=image, uid=bytes.fromhex("240ac40b0a4d"))
        try:
            dev = await _until("the protected registration", lambda: (d := _device(db)) and d.registered_at and d, board)
            first_report = dev.last_report_at
            await _until("a protected heartbeat", lambda: (d := _device(db)) and d.last_report_at > first_report, board)
            with db.session() as s:
                assert s.scalars(select(DeviceCredential.oscore_since)).one() is not None
            health = await fleet.poll_device(DEV)
            assert health["dev"] == DEV

            for crash in (False, True):
                ctx = fleet.coap.contexts.for_device(DEV)  # type: ignore[union-attr]
                fleet_seq = ctx.sender_sequence_number
                if crash:
                    fleet.coap.contexts = None  # type: ignore[union-attr]  # no state written back
                await fleet.stop()
                before = _device(db).last_report_at  # type: ignore[union-attr]
                fleet = Fleet(settings)
                await fleet.start(background=False)
                await _until("a heartbeat after the restart",
                             lambda: (d := _device(db)) and d.last_report_at > before, board, timeout=40)
                await fleet.poll_device(DEV)  # the board's window would refuse a reused number
                assert fleet.coap.contexts.for_device(DEV).sender_sequence_number > fleet_seq  # type: ignore
                totals = dict(fleet.counter.device_totals)
                assert totals == ({(DEV, "oscore_echo"): 1} if crash else {}), totals

            seq_before = _device(db).last_seq  # type: ignore[union-attr]
            reg_before = _device(db).registered_at  # type: ignore[union-attr]
            board.hard_reset()
            await _until("the registration after the reboot",
                         lambda: (d := _device(db)) and d.registered_at > reg_before, board, timeout=40)
            await fleet.poll_device(DEV)
            assert _device(db).last_seq >= seq_before  # type: ignore[union-attr]
            refused = {k: v for k, v in fleet.counter.device_totals.items() if k[1] != "oscore_echo"}
            assert refused == {}, refused
        finally:
            await fleet.stop()

    asyncio.run(main())
    db.dispose()

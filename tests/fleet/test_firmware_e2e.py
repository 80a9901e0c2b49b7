"""The fleet with the real firmware: the app on MicroPython (simulated machine, real time, real
UDP, tests/firmware/mp_board.py) reporting to a real Fleet (CoAP ingest, store, poller).

One board, behind a relay that loses the first copy of every response (so every confirmable
request is retransmitted): its alarm reaches the fleet as one incident with every event stored
once and no gap; a command queued in the fleet reaches the board in an ack and its result comes back; after a
power cut the poller asks the silent board for /health, gets no answer and marks it offline."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from fleet.runtime import Fleet
from fleet.services import commands
from fleet.store.db import Database
from fleet.store.models import Alarm, Command, Device, Event, SequenceGap
from fleet.tasks.poller import poll_once
from utils.fleet_runtime import make_settings
from utils.lossy_relay import LossyRelay
from utils.micropython import micropython_binary

REPO = Path(__file__).resolve().parents[2]
BOARD_SCRIPT = REPO / "tests" / "firmware" / "mp_board.py"
DEV = "gg-e2e01"

pytestmark = [pytest.mark.slow, pytest.mark.micropython]


def _write_root(root: Path, fleet_port: int) -> None:
    sys.path.insert(0, str(REPO / "boards" / "sim" / "device"))
    from boards.sim.device import simworld

    (root / "board.json").write_text(json.dumps(simworld.DEFAULT_BOARD))
    config = {"device_id": DEV, "model": "GG-T", "site": "S1",
              "fleet": {"host": "127.0.0.1", "port": fleet_port}, "heartbeat_s": 5, "coap_port": 0,
              "alarm": {"confirm_s": 2, "clear_s": 2}, "sensor": {"comparator": False}}
    (root / "config.json").write_text(json.dumps(config))


async def _start_board(root: Path, steps: list[Any]) -> asyncio.subprocess.Process:
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests"), ".frozen"])
    return await asyncio.create_subprocess_exec(
        micropython_binary(), "-X", "heapsize=2m", str(BOARD_SCRIPT), str(root), json.dumps(steps), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True)


async def _power_cut(proc: asyncio.subprocess.Process) -> str:
    if proc.returncode is None:
        os.killpg(proc.pid, signal.SIGKILL)
    assert proc.stdout is not None
    out = await proc.stdout.read()
    await proc.wait()
    return out.decode(errors="replace")


async def _until(fleet: Fleet, query: Callable[[Any], bool], timeout: float, what: str,
                 proc: asyncio.subprocess.Process) -> None:
    def check() -> bool:
        with fleet.db.session() as s:
            return query(s)

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if await fleet.writer.run(check):
            return
        if proc.returncode is not None:
            raise AssertionError(f"the board stopped waiting for {what}:\n{(await _power_cut(proc))[-3000:]}")
        await asyncio.sleep(0.2)
    def state() -> str:
        with fleet.db.session() as s:
            cmds = [(c.id, c.state, c.attempts, c.sent_via) for c in s.scalars(select(Command))]
            evs = [(e.seq, e.kind) for e in s.scalars(select(Event).order_by(Event.id))]
            return f"commands {cmds}; events {evs}; refused {fleet.counter.totals}"

    info = await fleet.writer.run(state)
    out = await _power_cut(proc)
    raise AssertionError(f"timed out waiting for {what}: {info}\n{out[-4000:]}")


def test_real_firmware__alarm_once__command_result__offline_after_poll(tmp_path: Path, sqlite_db: Database) -> None:
    settings = make_settings(sqlite_db.url, heartbeat_interval_s=1, offline_grace_s=1, poll_timeout_s=1.5)

    async def scenario() -> tuple[dict[str, str], str, tuple[int, int, int]]:
        fleet = Fleet(settings, database=Database(sqlite_db.url))
        await fleet.start(background=False)
        relay = await LossyRelay.start(fleet.coap_port)  # type: ignore[arg-type]
        _write_root(tmp_path, relay.port)
        proc = await _start_board(tmp_path, [[1.0, "set_gas", {"gas": "methane", "value": 40.0}]])
        out = ""
        try:
            await _until(fleet, lambda s: s.scalar(select(func.count()).select_from(Alarm)) == 1, 40,
                         "the alarm", proc)
            await _until(fleet, lambda s: s.scalars(select(Event).where(Event.kind == "valve_closed")).first()
                         is not None, 30, "valve_closed", proc)

            def queue() -> int:
                with fleet.db.session() as s:
                    cmd, _ = commands.create(s, device_id=DEV, op="selftest", created_by="e2e", ttl_s=600)
                    s.commit()
                    return cmd.id

            cid = await fleet.writer.run(queue)
            await _until(fleet, lambda s: s.get(Command, cid).state not in ("pending", "sent"), 30,
                         "the command result", proc)
            out = await _power_cut(proc)
            await asyncio.sleep(2.5)  # past interval + grace
            polled = await poll_once(fleet)
        finally:
            if proc.returncode is None:
                out = await _power_cut(proc)
            relay.close()
            await fleet.stop()
        return polled, out, (relay.retransmissions, len(relay.seen_requests), relay.dropped)

    polled, out, (retransmitted, requests, dropped) = asyncio.run(scenario())
    assert polled == {DEV: "offline"}, out[-3000:]
    # every confirmable request (registration, events, heartbeats, the command result) lost its first
    # acknowledgement and was sent again, except one the power cut may have caught in flight
    assert requests >= 5 and retransmitted >= requests - 1, (retransmitted, requests, dropped)
    with sqlite_db.session() as s:
        device = s.scalars(select(Device)).one()
        assert not device.online and device.last_offline_at is not None
        seqs = s.scalars(select(Event.seq).where(Event.origin == "device").order_by(Event.seq)).all()
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
        assert s.scalar(select(func.count()).select_from(SequenceGap)) == 0
        (alarm,) = s.scalars(select(Alarm)).all()
        assert alarm.state == "open" and alarm.valve_closed_at is not None and alarm.peak_lel
        cmd = s.scalars(select(Command)).one()
        assert cmd.result is not None and cmd.result["st"] == "done" and cmd.result.get("ok") is True
        offline = s.scalars(select(Event).where(Event.kind == "offline")).one()
        assert offline.payload["reason"].startswith("silent; poll failed: ")

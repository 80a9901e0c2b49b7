"""For firmware tests on CPython: a small aiocoap server standing in for the fleet, and the app
running in a MicroPython process (tests/firmware/mp_board.py) with the simulated machine."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from pathlib import Path

import aiocoap
import aiocoap.resource as resource

from protocol import messages
from utils.micropython import micropython_binary

REPO = Path(__file__).resolve().parents[2]
BOARD_SCRIPT = Path(__file__).with_name("mp_board.py")


def free_udp_port() -> int:
    """A free UDP port below the ephemeral range: a port the OS hands out for bind(0) could be
    given to another process (tests run in parallel) before our MicroPython board binds it."""
    import random

    for _ in range(200):
        port = random.randint(12000, 30000)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        return port
    raise RuntimeError("no free UDP port in 12000-30000")


class Fleet:
    """What the fleet does for these tests: store events once per (dev, seq), ack, offer
    queued commands in acks."""

    def __init__(self) -> None:
        self.events: dict[int, dict] = {}
        self.posts: list[tuple[str, dict]] = []
        self.regs: list[dict] = []
        self.hbs: list[dict] = []
        self.results: list[dict] = []
        self.cmds: list[dict] = []
        self.claims: list[str] = []  # per request: the remote's kind (OSCOREAddress: protected)

    def ack(self, seq: int | None = None) -> bytes:
        a: dict = {"st": int(time.time()), "pc": len(self.cmds)}
        if seq is not None:
            a["seq"] = seq
        if self.cmds:
            a["cmds"] = self.cmds[:4]
            self.cmds = self.cmds[4:]
        return messages.encode("ack", a)

    def site(self) -> resource.Site:
        fleet = self

        class Post(resource.Resource):
            def __init__(self, kind: str) -> None:
                super().__init__()
                self.kind = kind

            async def render_post(self, request):
                obj = messages.decode(self.kind, request.payload)
                fleet.claims.append(type(request.remote).__name__)
                fleet.posts.append((self.kind, obj))
                seq = None
                if self.kind == "event":
                    fleet.events.setdefault(obj["seq"], obj)
                    seq = obj["seq"]
                elif self.kind == "registration":
                    fleet.regs.append(obj)
                elif self.kind == "heartbeat":
                    fleet.hbs.append(obj)
                else:
                    fleet.results.append(obj)
                return aiocoap.Message(code=aiocoap.CHANGED, payload=fleet.ack(seq),
                                       content_format=60)

        site = resource.Site()
        site.add_resource(["gg", "reg"], Post("registration"))
        site.add_resource(["gg", "ev"], Post("event"))
        site.add_resource(["gg", "hb"], Post("heartbeat"))
        site.add_resource(["gg", "cr"], Post("command_result"))
        return site


async def start_server(fleet: Fleet, port: int):
    return await aiocoap.Context.create_server_context(fleet.site(), bind=("127.0.0.1", port))


def write_root(root: Path, fleet_port: int, **cfg) -> None:
    import sys

    sys.path.insert(0, str(REPO / "boards" / "sim" / "device"))
    from boards.sim.device import simworld

    (root / "board.json").write_text(json.dumps(simworld.DEFAULT_BOARD))
    config = {
        "device_id": "gg-int01", "model": "GG-T", "site": "S1",
        "fleet": {"host": "127.0.0.1", "port": fleet_port}, "heartbeat_s": 5,
        "coap_port": 0, "alarm": {"confirm_s": 2, "clear_s": 2},
        "sensor": {"comparator": False},
    }
    config.update(cfg)
    (root / "config.json").write_text(json.dumps(config))


async def start_board(root: Path, steps: list) -> asyncio.subprocess.Process:
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join([str(REPO), str(REPO / "tests"), ".frozen"])
    return await asyncio.create_subprocess_exec(
        micropython_binary(), "-X", "heapsize=2m", str(BOARD_SCRIPT), str(root),
        json.dumps(steps), env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, start_new_session=True)


async def wait_for(pred, timeout: float, what: str, proc=None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        if proc is not None and proc.returncode is not None:
            out = (await proc.stdout.read()).decode(errors="replace")
            raise AssertionError("the board stopped (exit %s) waiting for %s:\n%s"
                                 % (proc.returncode, what, out[-3000:]))
        await asyncio.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


async def kill(proc: asyncio.subprocess.Process) -> str:
    if proc.returncode is None:
        os.killpg(proc.pid, signal.SIGKILL)  # a power cut: no chance to save anything
    out = await proc.stdout.read()
    await proc.wait()
    return out.decode(errors="replace")

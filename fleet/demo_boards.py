"""The boards' side of `gasguard demo`: virtual boards booted from the factory image, each
provisioned as an installer would (`fleet.provision.steps.Provisioner`, steps 1-5: read the
board, maintenance boot, key, /config.json, reboot and register), and the timed leak.

Everything here blocks (ptys, mpremote, HTTP to the fleet); the demo runs it in worker threads
while the fleet serves in the event loop. A `threading.Event` set on Ctrl-C ends every wait
at once, so nothing keeps the demo from shutting down."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.markup import escape

from boards.sim.board import VirtualBoard
from fleet.provision.steps import TITLES, Options, Outcome, Provisioner, Reporter

RESPONSE_LIMIT_S = 30.0  # GB 15322.2 response test: at 1.6 x the set point the alarm fires within 30 s
SET_POINT_LEL = 25.0     # the firmware's default single-level set point (GB 15322: 25 %LEL or lower)
LEAK_LEL = 1.6 * SET_POINT_LEL


class Interrupted(Exception):
    """Ctrl-C (or SIGTERM) while a board step was waiting."""


class StepFailed(Exception):
    """A demo step failed; `detail` is extra text to show (a board's console tail)."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


async def in_thread(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    """fn(*args, **kw) in a daemon thread. Not asyncio.to_thread: its pool is joined at exit, so
    Ctrl-C during provisioning waited ~20 s for an mpremote read on a board already stopped."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)

    def work() -> None:
        try:
            result, error = fn(*args, **kw), None
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting task
            result, error = None, e
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name="demo-" + getattr(fn, "__name__", "step"), daemon=True).start()
    return await fut


def console_tail(vb: VirtualBoard, lines: int = 25) -> str:
    """The board's last console lines, without the raw-REPL traffic of provisioning."""
    text = bytes(vb.console[-20000:]).decode(errors="replace")
    keep = [ln.rstrip() for ln in text.splitlines()
            if ln.strip() and ln.isprintable() and not ln.startswith(">")]
    return "\n".join(keep[-lines:]) or "(the board printed nothing)"


def start_board(image: Path, workdir: Path) -> VirtualBoard:
    """A `sim` board booting a copy of the factory vfs image, at the launcher's default heap."""
    workdir.mkdir(parents=True, exist_ok=True)
    return VirtualBoard("sim", image=image, workdir=workdir).start(timeout=30)


def stop_boards(boards: list[VirtualBoard]) -> list[int]:
    """Stop every board; the MicroPython pids still alive afterwards (empty when clean)."""
    pids = [vb.pid for vb in boards]
    for vb in boards:
        vb.stop()
    alive = []
    for pid in pids:
        if pid is None:
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        alive.append(pid)
    return alive


class StepReporter(Reporter):
    """The Provisioner's progress, forwarded one line per step; a warning shown once per run."""

    def __init__(self, say: Callable[[str], None], warned: set[str]) -> None:
        self.say = say
        self.warned = warned
        self.current = ""  # the step under way, for a message when it never ends

    def step(self, n: int, name: str) -> None:
        self.current = TITLES[name]

    def done(self, name: str, detail: str) -> None:
        self.say(f"[green]✓[/green] {TITLES[name]}: [dim]{escape(detail)}[/dim]")

    def warn(self, text: str) -> None:
        if text not in self.warned:
            self.warned.add(text)
            self.say(f"[yellow]![/yellow] [dim]{escape(text)}[/dim]")


class _SharedHostProvisioner(Provisioner):
    """The installer's steps, plus `coap_port: 0` in /config.json. All virtual boards share
    127.0.0.1, and the firmware binds its CoAP socket to 5683 by default with SO_REUSEADDR: the
    second board to boot would then receive the first one's acks, and the first one's outbox
    would stall (seen here: its alarm never reached the fleet). A board on its own network
    address keeps 5683; here each takes a free port, and the fleet answers and polls whatever
    address a device's datagrams come from."""

    def build_config(self) -> dict[str, Any]:
        cfg = super().build_config()
        cfg["coap_port"] = 0
        return cfg


def provision(vb: VirtualBoard, ui: StepReporter, *, site: str, fleet_url: str, token: str, model: str,
              heartbeat_s: int, stop: threading.Event, register_timeout_s: float = 30.0) -> Outcome:
    """Steps 1-5 of `gasguard provision` on one board (no acceptance test: the demo's leak is it)."""
    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise Interrupted()

    opts = Options(port=vb.port, site=site, fleet=fleet_url, token=token, board="sim", model=model,
                   heartbeat_s=heartbeat_s, sp_low=SET_POINT_LEL, acceptance=False,
                   register_timeout_s=register_timeout_s)
    return _SharedHostProvisioner(opts, ui, sleep=sleep).run()


@dataclass
class LeakTimes:
    """Seconds from the gas reaching the sensor; None = not seen before the deadline."""

    alarm: float | None = None         # red LED on (board)
    buzzer: float | None = None        # buzzer on (board)
    valve_closed: float | None = None  # valve fully closed (board's valve model)
    fleet_alarm: float | None = None   # alarm event stored by the fleet (its received_at)
    fleet_valve_closed: float | None = None

    def complete(self) -> bool:
        return None not in (self.alarm, self.valve_closed, self.fleet_alarm, self.fleet_valve_closed)


def measure_leak(vb: VirtualBoard, fleet_seen: Callable[[], dict[str, datetime]], *, stop: threading.Event,
                 timeout_s: float = 60.0, on_change: Callable[[str, float], None] | None = None) -> LeakTimes:
    """Methane at LEAK_LEL on the board, then wait for its alarm, its valve, and both events at
    the fleet. `fleet_seen()` returns {"alarm": received_at, "valve_closed": received_at} for the
    events stored after the leak began. Times from the board's own event clock and the fleet's
    received_at against the wall clock at the injection."""
    times = LeakTimes()
    t0_wall = time.time()
    vb.set_gas("methane", LEAK_LEL)
    t0 = vb.events_of("control")[-1]["host_t"]
    deadline = time.monotonic() + timeout_s

    def mark(name: str, value: float) -> None:
        if getattr(times, name) is None:
            setattr(times, name, round(value, 2))
            if on_change is not None:
                on_change(name, value)

    def first(kind: str, pred: Callable[[dict[str, Any]], bool]) -> float | None:
        hits = [e["host_t"] for e in vb.events_of(kind) if e["host_t"] >= t0 and pred(e)]
        return (min(hits) - t0) / 1000 if hits else None

    while not times.complete() and time.monotonic() < deadline:
        for name, kind, pred in (("alarm", "led", lambda e: e.get("n") == "red" and bool(e.get("v"))),
                                 ("buzzer", "buzzer", lambda e: bool(e.get("v"))),
                                 ("valve_closed", "valve", lambda e: e.get("v") == "closed")):
            dt = first(kind, pred)
            if dt is not None:
                mark(name, dt)
        for kind, at in fleet_seen().items():
            mark("fleet_" + kind, at.timestamp() - t0_wall)
        if stop.wait(0.1):
            raise Interrupted()
    return times

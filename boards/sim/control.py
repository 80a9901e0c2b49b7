"""Reach a running virtual board (started by `gasguard sim up` or a test) by its port or name.

    from boards.sim.control import connect
    b = connect("/dev/pts/5")            # or the board's name, e.g. "sim-1a2b3c"
    b.set_gas("methane", 30)             # %LEL; unit="ppm", ramp_s=10, after_s=5
    b.press_button(300); b.power_cut(); b.power_restore(); b.net_degrade(delay_ms=500, loss=0.2)
    b.sensor_fault("open")               # or "short"; None wires the sensor again
    b.state()["valve"], b.events(kind="led")

Each call is one JSON line over TCP to the launcher's control socket (127.0.0.1 only); a bad
request comes back as ControlError with the launcher's message.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from boards.sim.board import registry_dir


class ControlError(RuntimeError):
    """The board refused a request or cannot be reached; the message says which and why."""


def running_boards() -> list[dict[str, Any]]:
    """Boards announced in the registry whose launcher is still alive (stale entries removed)."""
    out = []
    d = registry_dir()
    if not d.is_dir():
        return out
    for p in sorted(d.glob("*.json")):
        try:
            info = json.loads(p.read_text())
        except (OSError, ValueError):
            continue
        try:
            os.kill(int(info["pid"]), 0)
        except (ProcessLookupError, KeyError, ValueError):
            p.unlink(missing_ok=True)
            continue
        except PermissionError:
            pass
        out.append(info)
    return out


def find(port_or_name: str) -> dict[str, Any]:
    boards = running_boards()
    for info in boards:
        if port_or_name in (info["name"], info["port"]):
            return info
    known = ", ".join("%s (%s)" % (i["name"], i["port"]) for i in boards) or "none"
    raise ControlError("no running virtual board %r; running: %s" % (port_or_name, known))


class BoardClient:
    def __init__(self, info: dict[str, Any]) -> None:
        self.info = info
        self.name = info["name"]
        self.port = info["port"]
        self._addr = (info["control"][0], int(info["control"][1]))

    def call(self, op: str, timeout: float = 30.0, **args: Any) -> Any:
        try:
            with socket.create_connection(self._addr, timeout=timeout) as s:
                s.sendall(json.dumps({"op": op, "args": args}).encode() + b"\n")
                buf = b""
                while not buf.endswith(b"\n"):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
        except OSError as e:
            raise ControlError("board %s at %s:%d does not answer (%s)" % (self.name, *self._addr, e)) from None
        reply = json.loads(buf or b"{}")
        if not reply.get("ok"):
            raise ControlError("board %s: %s" % (self.name, reply.get("error", "no reply")))
        return reply.get("result")

    def set_gas(self, gas: str, value: float, unit: str = "lel", ramp_s: float = 0, after_s: float = 0) -> None:
        self.call("set_gas", gas=gas, value=value, unit=unit, ramp_s=ramp_s, after_s=after_s)

    def set_climate(self, temp_c: float | None = None, rh_pct: float | None = None) -> None:
        self.call("set_climate", temp_c=temp_c, rh_pct=rh_pct)

    def press_button(self, ms: int = 300) -> None:
        self.call("press_button", ms=ms)

    def sensor_fault(self, kind: str | None) -> None:
        self.call("sensor_fault", kind=kind)

    def valve_reopen(self) -> None:
        self.call("valve_reopen")

    def power_cut(self) -> None:
        self.call("power_cut")

    def power_restore(self) -> None:
        self.call("power_restore")

    def brownout(self) -> None:
        self.call("brownout")

    def reset(self) -> None:
        self.call("reset")

    def net_cut(self) -> None:
        self.call("net_cut")

    def net_restore(self) -> None:
        self.call("net_restore")

    def net_degrade(self, **kw: Any) -> dict[str, Any]:
        return self.call("net_degrade", **kw)

    def state(self) -> dict[str, Any]:
        return self.call("state")

    def events(self, kind: str | None = None, since: int = 0) -> list[dict[str, Any]]:
        return self.call("events", kind=kind, since=since)

    def console(self, since: int = 0) -> str:
        return self.call("console", since=since)


def connect(port_or_name: str) -> BoardClient:
    """A client for a running board, found by its pty path or its name."""
    return BoardClient(find(port_or_name))


__all__ = ["BoardClient", "ControlError", "connect", "find", "running_boards", "Path"]

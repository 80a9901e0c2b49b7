"""The rig layer: what a procedure may do to the board and read from it, whatever the rig.

A procedure applies test gas, breaks or shorts the sensor, cuts power, presses reset, and reads
the indicators and the valve as timestamped edges (`Edge(t_ms, name, value)`, names below) on
the rig's own millisecond clock. Two drivers:

- `VirtualRig`: the virtual board (boards/sim), over its control socket (boards.sim.control).
  Gas, power and reset are the launcher's; edges are the board's own pin events.
- `GpioRig`: a real board. A USB-GPIO adapter switches relays (test-gas solenoid, purge, sensor
  open/short relays, the board's supply, EN) and reads the LED, buzzer and valve lines back;
  a poller thread timestamps every change. `NumatoGpio` speaks the adapter protocol.

Edge names: red, yellow, green, buzzer (indicators, 1 = on), valve_drive (the drive line as the
firmware sets it), valve ("open"/"closed", the valve's position switch).
"""

from __future__ import annotations

import threading
import time
from typing import Any, NamedTuple

INDICATORS = ("red", "yellow", "green", "buzzer")


class Edge(NamedTuple):
    t: int       # rig ms
    name: str
    value: Any


class RigUnsupported(RuntimeError):
    """This rig cannot do what a procedure needs (the report says which and why)."""


class Rig:
    """The interface. Every action returns the rig-ms time it took effect."""

    name = "rig"
    board: Any = None  # boards.registry.Board

    def now_ms(self) -> int:
        raise NotImplementedError

    def apply_gas(self, gas: str, value: float, unit: str = "lel", ramp_s: float = 0.0) -> int:
        raise NotImplementedError

    def clear_gas(self) -> int:
        raise NotImplementedError

    def sensor_fault(self, kind: str | None) -> int:
        """'open', 'short' or None (sensor wired normally again)."""
        raise NotImplementedError

    def power_cut(self) -> int:
        raise NotImplementedError

    def power_restore(self) -> int:
        raise NotImplementedError

    def reset(self) -> int:
        raise NotImplementedError

    def reopen_valve(self) -> int:
        """The person on site resets the valve by hand."""
        raise NotImplementedError

    def edges(self, since: int = 0) -> list[Edge]:
        raise NotImplementedError

    def valve_state(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        pass

    # -- helpers built on the above --------------------------------------------------------
    def wait_edge(self, name: str, value: Any, since: int, timeout_s: float) -> Edge | None:
        """The first edge `name` == value at or after `since`, waiting up to timeout_s; None if none."""
        end = time.monotonic() + timeout_s
        while True:
            for e in self.edges(since):
                if e.name == name and e.value == value and e.t >= since:
                    return e
            if time.monotonic() >= end:
                return None
            time.sleep(0.1)

    def quiet_since(self, name: str, since: int, quiet_s: float, timeout_s: float) -> int | None:
        """Wait until `name` has stayed 0 for quiet_s; the time it went (or was) off, or None."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            es = [e for e in self.edges(since) if e.name == name]
            on = any(e.value for e in es[-1:])
            last_off = es[-1].t if es else since
            if not on and self.now_ms() - last_off >= quiet_s * 1000:
                return last_off
            time.sleep(0.2)
        return None


class VirtualRig(Rig):
    """The virtual board, by its name or pty, through boards.sim.control."""

    def __init__(self, board_name_or_port: str) -> None:
        from boards.registry import load_board
        from boards.sim.control import connect

        self.c = connect(board_name_or_port)
        self.name = self.c.name
        st = self.c.state()
        self.board = load_board(st["board"])
        self._offset = 0.0
        self._gases: set[str] = set()
        self._sync()

    def _sync(self) -> int:
        # The launcher's clock: stamp a harmless control (climate unchanged) and read its time.
        before = time.monotonic()
        self.c.call("set_climate", temp_c=None, rh_pct=None)
        t = self._last_control_t()
        self._offset = (before + time.monotonic()) / 2 * 1000 - t
        return t

    def _last_control_t(self) -> int:
        ev = self.c.events(kind="control", since=max(0, int(self.now_ms()) - 5000) if self._offset else 0)
        return int(ev[-1]["t"])

    def now_ms(self) -> int:
        return int(time.monotonic() * 1000 - self._offset)

    def _stamp(self) -> int:
        return self._last_control_t()

    def apply_gas(self, gas: str, value: float, unit: str = "lel", ramp_s: float = 0.0) -> int:
        self.c.set_gas(gas, value, unit=unit, ramp_s=ramp_s)
        self._gases.add(gas)
        return self._stamp()

    def clear_gas(self) -> int:
        for g in sorted(self._gases) or ["methane"]:
            self.c.set_gas(g, 0.0, unit="ppm")
        self._gases.clear()
        return self._stamp()

    def sensor_fault(self, kind: str | None) -> int:
        # the sim's own wiring fault: its ADC then reads what an open or shorted sensor gives
        self.c.sensor_fault(kind)
        return self._stamp()

    def power_cut(self) -> int:
        self.c.power_cut()
        return self._event_t("power", 0)

    def power_restore(self) -> int:
        self.c.power_restore()
        return self._event_t("power", 1)

    def reset(self) -> int:
        self.c.reset()
        return self._event_t("boot", None)

    def _event_t(self, kind: str, value: Any) -> int:
        ev = [e for e in self.c.events(kind=kind, since=max(0, self.now_ms() - 10000))
              if value is None or e["v"] == value]
        return int(ev[-1]["t"]) if ev else self.now_ms()

    def reopen_valve(self) -> int:
        self.c.valve_reopen()
        return self._stamp()

    def edges(self, since: int = 0) -> list[Edge]:
        out: list[Edge] = []
        # events are filtered by host time; ask a little earlier and filter on board time
        for e in self.c.events(since=max(0, since - 2000)):
            ev, n, v, t = e["ev"], e.get("n"), e.get("v"), int(e.get("t", e["host_t"]))
            if t < since:
                continue
            if ev == "led":
                out.append(Edge(t, n, 1 if v else 0))
            elif ev == "buzzer":
                out.append(Edge(t, "buzzer", 1 if v else 0))
            elif ev == "out" and n == "valve_drive":
                out.append(Edge(t, "valve_drive", v))
            elif ev == "valve":
                out.append(Edge(t, "valve", v))
            elif ev in ("boot", "power"):
                out.append(Edge(t, ev, v))
        return out

    def valve_state(self) -> str:
        return str(self.c.state()["valve"])


class NumatoGpio:
    """Numato Lab USB GPIO modules (a CDC serial port): `gpio set N`, `gpio clear N`,
    `gpio read N` (answers 0/1), lines 0..9 then A..V. One command at a time."""

    def __init__(self, port: str, baud: int = 19200, serial_obj: Any = None) -> None:
        if serial_obj is None:
            import serial

            serial_obj = serial.serial_for_url(port, baud, timeout=0.5)
        self.s = serial_obj
        self.lock = threading.Lock()

    @staticmethod
    def _line(n: int) -> str:
        return "0123456789ABCDEFGHIJKLMNOPQRSTUV"[n]

    def _cmd(self, text: str) -> str:
        with self.lock:
            self.s.reset_input_buffer()
            self.s.write((text + "\r").encode())
            buf = self.s.read_until(b">")  # the prompt ends every answer (or the read times out)
        # the module echoes the command, then the answer, then the prompt '>'
        lines = [ln.strip() for ln in buf.decode(errors="replace").replace(">", "").splitlines() if ln.strip()]
        return lines[-1] if lines and lines[-1] != text else ""

    def write(self, line: int, level: int) -> None:
        self._cmd("gpio %s %s" % ("set" if level else "clear", self._line(line)))

    def read(self, line: int) -> int:
        ans = self._cmd("gpio read %s" % self._line(line))
        if ans not in ("0", "1"):
            raise OSError("GPIO adapter: unexpected answer %r to gpio read %d" % (ans, line))
        return int(ans)

    def close(self) -> None:
        self.s.close()


class GpioRig(Rig):
    """A real board wired to relays and read-back lines through a GPIO adapter (rig file [gpio]).

    Gas: each [[gas.cylinders]] entry is a premixed test gas behind its own solenoid line;
    apply_gas opens the cylinder with that gas and concentration (ramps need a mass-flow
    controller this driver does not drive: RigUnsupported). clear_gas closes every solenoid and
    runs the purge line for `gas.purge_s`."""

    def __init__(self, rig: dict[str, Any], adapter: Any = None) -> None:
        self.rig = rig
        self.name = rig["name"]
        self.board = rig["board_def"]
        g = rig["gpio"]
        self.outs: dict[str, int] = dict(g.get("outputs", {}))
        self.ins: dict[str, int] = dict(g.get("inputs", {}))
        self.active_low: set[str] = set(g.get("active_low", []))
        self.io = adapter or NumatoGpio(g["port"])
        self.poll_s = float(g.get("poll_ms", 5)) / 1000
        self.gas = rig.get("gas", {})
        self._t0 = time.monotonic()
        self._edges: list[Edge] = []
        self._lock = threading.Lock()
        self._levels: dict[str, Any] = {}
        self._stop = threading.Event()
        fb_closed = self.board.valve.feedback_closed_level
        self._names = {"led_red": "red", "led_yellow": "yellow", "led_green": "green",
                       "buzzer": "buzzer", "valve_drive": "valve_drive", "valve_feedback": "valve"}
        self._fb_closed = fb_closed
        for name in self.outs:
            self._out(name, 0)
        self._thread = threading.Thread(target=self._poll, name="gpio-rig", daemon=True)
        self._thread.start()

    def now_ms(self) -> int:
        return int((time.monotonic() - self._t0) * 1000)

    def _out(self, name: str, on: int) -> int:
        if name not in self.outs:
            raise RigUnsupported("rig %s has no gpio.outputs.%s line" % (self.name, name))
        self.io.write(self.outs[name], (0 if on else 1) if name in self.active_low else (1 if on else 0))
        return self.now_ms()

    def _value(self, role: str, level: int) -> Any:
        if role == "valve_feedback":
            return "closed" if level == self._fb_closed else "open"
        return (1 - level) if role in self.active_low else level

    def _poll(self) -> None:
        while not self._stop.is_set():
            for role, line in self.ins.items():
                try:
                    v = self._value(role, self.io.read(line))
                except OSError:
                    continue
                if self._levels.get(role) != v:
                    self._levels[role] = v
                    with self._lock:
                        self._edges.append(Edge(self.now_ms(), self._names[role], v))
            time.sleep(self.poll_s)

    def edges(self, since: int = 0) -> list[Edge]:
        with self._lock:
            return [e for e in self._edges if e.t >= since]

    def valve_state(self) -> str:
        return str(self._levels.get("valve_feedback", "unknown"))

    def apply_gas(self, gas: str, value: float, unit: str = "lel", ramp_s: float = 0.0) -> int:
        if ramp_s:
            raise RigUnsupported("rig %s: ramps need a mass-flow controller; exclude slow_ramp "
                                 "in [procedures] or add one" % self.name)
        if value == 0:
            return self.clear_gas()
        for cyl in self.gas.get("cylinders", []):
            if cyl.get("gas") == gas and abs(float(cyl.get(unit, cyl.get("lel", -1))) - value) < 1e-6:
                return self._out_line(int(cyl["line"]), 1)
        raise RigUnsupported("rig %s: no cylinder of %s at %s %s in gas.cylinders" % (self.name, gas, value, unit))

    def _out_line(self, line: int, level: int) -> int:
        self.io.write(line, level)
        return self.now_ms()

    def clear_gas(self) -> int:
        t = self.now_ms()
        for cyl in self.gas.get("cylinders", []):
            self.io.write(int(cyl["line"]), 0)
        if "purge" in self.outs:
            self._out("purge", 1)
            time.sleep(float(self.gas.get("purge_s", 10)))
            self._out("purge", 0)
        return t

    def sensor_fault(self, kind: str | None) -> int:
        t = self.now_ms()
        self._out("sensor_open", 1 if kind == "open" else 0)
        self._out("sensor_short", 1 if kind == "short" else 0)
        return t

    def power_cut(self) -> int:
        return self._out("power", 1)

    def power_restore(self) -> int:
        return self._out("power", 0)

    def reset(self) -> int:
        t = self._out("reset", 1)
        time.sleep(0.1)
        self._out("reset", 0)
        return t

    def reopen_valve(self) -> int:
        if "valve_reopen" in self.outs:
            t = self._out("valve_reopen", 1)
            time.sleep(0.5)
            self._out("valve_reopen", 0)
            return t
        input("bench: reset the shutoff valve by hand on the rig, then press Enter ")
        return self.now_ms()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for name in self.outs:
            try:
                self._out(name, 0)
            except OSError:
                pass
        self.io.close()


def open_rig(rig: dict[str, Any], target: str) -> Rig:
    """The driver the rig file names; `target` is the virtual board's name/pty (virtual rigs)."""
    if rig["driver"] == "virtual":
        return VirtualRig(target)
    return GpioRig(rig)

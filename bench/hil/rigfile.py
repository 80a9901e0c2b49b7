"""Rig description files (bench/rigs/*.toml): which board, how the bench reaches it, how test
gas is applied, how valve and indicators are read, what the device is provisioned with and the
procedures' parameters. Loaded and checked here; every error names the file, the field and the
fix. The format is documented in docs/bench.md."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

RIGS_DIR = Path(__file__).resolve().parents[1] / "rigs"
DRIVERS = ("virtual", "gpio")
GPIO_OUTPUTS = ("gas", "purge", "sensor_open", "sensor_short", "power", "reset", "valve_reopen")
GPIO_INPUTS = ("led_red", "led_yellow", "led_green", "buzzer", "valve_drive", "valve_feedback")
INTERFERENTS = ("alcohol", "cooking")

# Procedure parameters and their defaults (the [procedures] table may override each).
PROCEDURE_DEFAULTS: dict[str, Any] = {
    "ramp_rate": 1.0,        # %LEL per minute (the standard: at most 1)
    "ramp_from": -3.0,       # %LEL relative to the set point
    "ramp_to": 3.0,
    "spike_s": 10.0,         # shorter than the confirmation window
    "observe_s": 10.0,       # extra watching after a window could have elapsed
    "latch_hold_s": 10.0,    # how long the valve is watched after the alarm cleared
    "fault_limit_s": 30.0,   # open/short sensor must be signalled within this (ours: open)
    "drive_limit_ms": 500,   # alarm indication -> valve drive (one sample period)
    "handler_limit_us": 1000,
    "loss": 0.3,
    "loss_events": 8,
    "delivery_timeout_s": 180.0,
    "interference": [
        {"gas": "alcohol", "value": 200.0, "unit": "ppm", "hold_s": 25.0},
        {"gas": "cooking", "value": 100.0, "unit": "ppm", "hold_s": 25.0},
    ],
    "exclude": [],
}


class RigError(ValueError):
    """A rig file is wrong; the message names the file, the field and what to do."""


def find_rig(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise RigError("%s: no such rig file" % p)
        return p
    cand = RIGS_DIR / ("%s.toml" % name_or_path)
    if not cand.is_file():
        known = ", ".join(sorted(x.stem for x in RIGS_DIR.glob("*.toml")))
        raise RigError("rig %r: no bench/rigs/%s.toml (known: %s)" % (str(name_or_path), name_or_path, known))
    return cand


def _need(d: dict[str, Any], key: str, typ: type | tuple[type, ...], where: str, fix: str) -> Any:
    if key not in d:
        raise RigError("%s.%s: missing; %s" % (where, key, fix))
    v = d[key]
    if not isinstance(v, typ) or isinstance(v, bool) and typ is not bool:
        raise RigError("%s.%s = %r: expected %s; %s" % (where, key, v, getattr(typ, "__name__", typ), fix))
    return v


def load_rig(name_or_path: str | Path) -> dict[str, Any]:
    """The rig as a dict with every default filled in; RigError when anything is wrong."""
    path = find_rig(name_or_path)
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise RigError("%s: not valid TOML (%s)" % (path, e)) from None
    w = str(path)
    rig: dict[str, Any] = dict(raw)
    rig["path"] = w
    rig["name"] = _need(raw, "name", str, w, "give the rig a name")
    drv = _need(raw, "driver", str, w, "'virtual' (boards/sim) or 'gpio' (a real board and a USB-GPIO adapter)")
    if drv not in DRIVERS:
        raise RigError("%s.driver = %r: expected one of %s" % (w, drv, ", ".join(DRIVERS)))
    board = _need(raw, "board", str, w, "the board definition the firmware runs on (boards/defs)")
    from boards.registry import BoardError, load_board

    try:
        rig["board_def"] = load_board(board)
    except BoardError as e:
        raise RigError("%s.board = %r: %s" % (w, board, e)) from None
    if drv == "gpio":
        _need(raw, "port", str, w, "the board's serial port, e.g. /dev/ttyUSB0")
        g = raw.get("gpio")
        if not isinstance(g, dict):
            raise RigError("%s: [gpio] table missing; a gpio rig says which adapter lines drive the "
                           "gas solenoid, power relay and sensor relays, and which read the LEDs and valve" % w)
        _need(g, "adapter", str, w + ".gpio", "'numato' (USB CDC serial GPIO) is the one implemented")
        _need(g, "port", str, w + ".gpio", "the adapter's serial port, e.g. /dev/ttyACM0")
        for table, names in (("outputs", GPIO_OUTPUTS), ("inputs", GPIO_INPUTS)):
            t = g.get(table, {})
            if not isinstance(t, dict):
                raise RigError("%s.gpio.%s: expected a table of name = line" % (w, table))
            for k, v in t.items():
                if k not in names:
                    raise RigError("%s.gpio.%s.%s: unknown line; known: %s" % (w, table, k, ", ".join(names)))
                if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v <= 63:
                    raise RigError("%s.gpio.%s.%s = %r: expected an adapter line number 0..63" % (w, table, k, v))
        for need in ("led_red", "valve_feedback"):
            if need not in g.get("inputs", {}):
                raise RigError("%s.gpio.inputs.%s: missing; the procedures read it" % (w, need))
        gas = raw.get("gas", {})
        if not isinstance(gas.get("cylinders"), list) or not gas["cylinders"]:
            raise RigError("%s.gas.cylinders: missing; list the test mixtures, e.g. "
                           "[{gas = \"methane\", lel = 40.0, line = 0}]" % w)
    fleet = dict(raw.get("fleet", {}))
    fleet.setdefault("bind", "127.0.0.1")
    fleet.setdefault("advertise", fleet["bind"])
    rig["fleet"] = fleet
    dev = raw.get("device", {})
    if not isinstance(dev, dict):
        raise RigError("%s.device: expected a table (merged into /config.json)" % w)
    rig["device"] = dev
    procs = dict(PROCEDURE_DEFAULTS)
    given = raw.get("procedures", {})
    for k, v in given.items():
        if k not in PROCEDURE_DEFAULTS:
            raise RigError("%s.procedures.%s: unknown parameter; known: %s" % (w, k, ", ".join(PROCEDURE_DEFAULTS)))
        procs[k] = v
    if not 0 < float(procs["ramp_rate"]) <= 1.0:
        raise RigError("%s.procedures.ramp_rate = %r: expected 0 < rate <= 1 %%LEL/min (the standard's slow ramp)"
                       % (w, procs["ramp_rate"]))
    if not float(procs["ramp_from"]) < 0 < float(procs["ramp_to"]):
        raise RigError("%s.procedures: ramp_from (%r) must be below and ramp_to (%r) above the set point (0)"
                       % (w, procs["ramp_from"], procs["ramp_to"]))
    for i, it in enumerate(procs["interference"]):
        if it.get("gas") not in INTERFERENTS:
            raise RigError("%s.procedures.interference[%d].gas = %r: expected one of %s"
                           % (w, i, it.get("gas"), ", ".join(INTERFERENTS)))
    rig["procedures"] = procs
    return rig


def setpoint(rig: dict[str, Any]) -> float:
    """The low set point the device is provisioned with (%LEL)."""
    return float(rig["device"].get("alarm", {}).get("low", 25))


def confirm_s(rig: dict[str, Any]) -> float:
    return float(rig["device"].get("alarm", {}).get("confirm_s", 15))

"""The HIL suite's fixtures. Run by bench/hil/runner.py (`gasguard bench run`) as

    pytest bench/hil -o addopts= -p pytest_embedded --embedded-services serial --port PTY \
        --hil-rig bench/rigs/sim.toml --hil-target NAME --hil-out results.json

`dut` (pytest-embedded's serial DUT on the board's console) is the board's UART; `rig` applies
gas and reads edges; `fleet` is the stand-in the board reports to; `record` writes each measured
value against its limit into --hil-out (and into the JUnit XML as properties)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from bench.hil import rigfile
from bench.hil.fleet import FleetStandIn
from bench.hil.rig import Rig, open_rig


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("gasguard-hil")
    g.addoption("--hil-rig", default="sim", help="rig file (bench/rigs/NAME.toml or a path)")
    g.addoption("--hil-target", default="", help="virtual rigs: the running board's name or pty")
    g.addoption("--hil-out", default="", help="write the measurements here (JSON)")
    g.addoption("--hil-only", default="", help="comma-separated procedure tests to run (default: all)")
    g.addoption("--hil-no-provision", action="store_true", help="the board is provisioned already")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    only = [s for s in config.getoption("--hil-only").split(",") if s]
    rig = rigfile.load_rig(config.getoption("--hil-rig"))
    excluded = set(rig["procedures"]["exclude"])
    keep, drop = [], []
    for it in items:
        name = it.originalname if hasattr(it, "originalname") else it.name
        short = name.removeprefix("test_")
        if (only and short not in only) or short in excluded:
            drop.append(it)
        else:
            keep.append(it)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


class Results:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.meta: dict[str, Any] = {}


_RESULTS = Results()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    out = session.config.getoption("--hil-out")
    if out:
        Path(out).write_text(json.dumps({"meta": _RESULTS.meta, "rows": _RESULTS.rows}, indent=1, default=str))


@pytest.fixture(scope="session")
def rig_cfg(pytestconfig: pytest.Config) -> dict[str, Any]:
    return rigfile.load_rig(pytestconfig.getoption("--hil-rig"))


@pytest.fixture(scope="session")
def rig(rig_cfg: dict[str, Any], pytestconfig: pytest.Config):
    r = open_rig(rig_cfg, pytestconfig.getoption("--hil-target"))
    yield r
    r.close()


def _port(pytestconfig: pytest.Config) -> str:
    return pytestconfig.getoption("port") or ""


def provision(port: str, config: dict[str, Any]) -> None:
    """Write /config.json over the board's serial port with mpremote and reset the board:
    the same on a real board and on the virtual one."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(config, f)
    exe = str(Path(sys.executable).with_name("mpremote"))
    last = ""
    for _ in range(3):
        p = subprocess.run([exe, "connect", port, "fs", "cp", f.name, ":config.json", "+", "reset"],
                           capture_output=True, text=True, timeout=60)
        if p.returncode == 0:
            return
        last = p.stdout + p.stderr
        time.sleep(1)
    raise RuntimeError("provisioning over %s failed:\n%s" % (port, last))


@pytest.fixture(scope="session")
def fleet(rig_cfg: dict[str, Any], rig: Rig, pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory):
    """The fleet stand-in, started before the board is provisioned with its relay's address."""
    f = FleetStandIn(tmp_path_factory.mktemp("fleet"), bind=rig_cfg["fleet"]["bind"]).start()
    cfg = dict(rig_cfg["device"])
    cfg["fleet"] = {"host": rig_cfg["fleet"]["advertise"], "port": f.relay.public[1]}
    if not pytestconfig.getoption("--hil-no-provision"):
        provision(_port(pytestconfig), cfg)
    dev = cfg.get("device_id")
    end = time.monotonic() + 60
    while not f.store.regs and time.monotonic() < end:
        time.sleep(0.2)
    if not f.store.regs:
        f.close()
        raise RuntimeError("the board never registered with the fleet stand-in at %s:%d" % f.relay.public)
    reg = f.store.regs[-1]
    _RESULTS.meta.update({"fw": reg["fw"], "board": reg["board"], "device_id": reg["dev"], "uid": reg["uid"],
                          "model": reg["model"], "rig": rig_cfg["name"], "rig_file": rig_cfg["path"],
                          "driver": rig_cfg["driver"], "setpoint": rigfile.setpoint(rig_cfg),
                          "confirm_s": rigfile.confirm_s(rig_cfg), "procedures": rig_cfg["procedures"]})
    f.dev = dev or reg["dev"]
    yield f
    f.close()


class Recorder:
    """record(id, title, limit, value, unit, ok, source=, note=) for one procedure test."""

    def __init__(self, test: str, prop: Any) -> None:
        self.test = test
        self.prop = prop
        self.failed: list[str] = []

    def __call__(self, pid: str, title: str, limit: str, value: Any, unit: str, ok: bool,
                 source: str = "", note: str = "") -> None:
        row = {"id": pid, "title": title, "limit": limit, "value": value, "unit": unit, "ok": bool(ok),
               "source": source, "note": note, "test": self.test, "t": time.time()}
        _RESULTS.rows.append(row)
        self.prop(pid, json.dumps({k: row[k] for k in ("limit", "value", "unit", "ok")}, default=str))
        if not ok:
            self.failed.append("%s: %s %s against %s %s" % (title, value, unit, limit, note))

    def check(self) -> None:
        assert not self.failed, "; ".join(self.failed)


@pytest.fixture
def record(request: pytest.FixtureRequest, record_property: Any) -> Any:
    r = Recorder(request.node.name, record_property)
    yield r


@pytest.fixture
def fresh(rig: Rig, fleet: FleetStandIn, rig_cfg: dict[str, Any]) -> Rig:
    """Start each procedure from clean air, sensor wired, network fine, no alarm, valve open."""
    fleet.relay.loss = 0.0
    rig.sensor_fault(None)
    rig.clear_gas()
    alarm = rig_cfg["device"].get("alarm", {})
    wait = float(alarm.get("clear_s", 10)) + 40
    if rig.quiet_since("red", rig.now_ms() - 3000, 2.5, wait) is None:
        raise RuntimeError("the alarm did not clear within %.0f s of clean air" % wait)
    if rig.valve_state() != "open":
        t = rig.reopen_valve()
        if rig.wait_edge("valve", "open", t - 50, 10) is None and rig.valve_state() != "open":
            raise RuntimeError("the valve did not reopen after a manual reset")
        time.sleep(3)  # the firmware takes the reopening in after 1 s of open feedback
    return rig

"""The HIL bench's host parts without a board: rig files, the fleet stand-in (real aiocoap, real
UDP), the GPIO rig driver against a fake adapter on a pty, and the report."""

from __future__ import annotations

import asyncio
import os
import pty
import threading
import time
import tty
from pathlib import Path

import aiocoap
import pytest

from bench.hil import report, rigfile
from bench.hil.fleet import FleetStandIn
from bench.hil.rig import GpioRig, NumatoGpio
from protocol import cbor, messages

REPO = Path(__file__).resolve().parents[2]


def _rig(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "r.toml"
    p.write_text(text)
    return p


def test_shipped_rig_files_load() -> None:
    sim = rigfile.load_rig("sim")
    assert sim["driver"] == "virtual" and sim["board_def"].name == "sim"
    assert rigfile.setpoint(sim) == 25 and rigfile.confirm_s(sim) == 15
    assert sim["procedures"]["ramp_rate"] <= 1.0
    real = rigfile.load_rig(REPO / "bench" / "rigs" / "esp32-rig.example.toml")
    assert real["driver"] == "gpio" and real["gpio"]["inputs"]["led_red"] == 8
    assert "slow_ramp" in real["procedures"]["exclude"]


@pytest.mark.parametrize("text, needle", [
    ('name = "x"\nboard = "sim"\n', "driver: missing"),
    ('name = "x"\ndriver = "ssh"\nboard = "sim"\n', "driver = 'ssh': expected one of virtual, gpio"),
    ('name = "x"\ndriver = "virtual"\nboard = "nope"\n', "board = 'nope'"),
    ('name = "x"\ndriver = "virtual"\nboard = "sim"\n[procedures]\nramp_rate = 5.0\n', "expected 0 < rate <= 1 %LEL/min"),
    ('name = "x"\ndriver = "virtual"\nboard = "sim"\n[procedures]\nramp_from = 1.0\n', "must be below"),
    ('name = "x"\ndriver = "virtual"\nboard = "sim"\n[procedures]\nspeed = 1\n', "procedures.speed: unknown parameter"),
    ('name = "x"\ndriver = "gpio"\nboard = "sim"\nport = "/dev/x"\n', "[gpio] table missing"),
    ('name = "x"\ndriver = "gpio"\nboard = "sim"\nport = "/dev/x"\n[gpio]\nadapter = "numato"\nport = "/dev/y"\n'
     'inputs = { led_red = 1, valve_feedback = 2, smoke = 3 }\n', "gpio.inputs.smoke: unknown line"),
    ('name = "x"\ndriver = "gpio"\nboard = "sim"\nport = "/dev/x"\n[gpio]\nadapter = "numato"\nport = "/dev/y"\n'
     'inputs = { led_red = 1 }\n', "gpio.inputs.valve_feedback: missing"),
    ('name = "x"\ndriver = "virtual"\nboard = "sim"\n[procedures]\ninterference = [{gas = "radon"}]\n',
     "interference[0].gas = 'radon'"),
    ('name = x', "not valid TOML"),
])
def test_rig_file_errors_name_the_field(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(rigfile.RigError) as e:
        rigfile.load_rig(_rig(tmp_path, text))
    assert needle in str(e.value)
    assert str(tmp_path) in str(e.value) or "TOML" in str(e.value)


def test_unknown_rig_name_lists_known() -> None:
    with pytest.raises(rigfile.RigError, match="known: .*sim"):
        rigfile.load_rig("no-such-rig")


async def _post(port: int, path: str, kind: str, obj: dict, timeout: float = 10) -> aiocoap.Message:
    ctx = await aiocoap.Context.create_client_context()
    try:
        body = messages.encode(kind, obj) if kind else cbor.dumps(obj)  # kind None: unchecked bytes
        req = aiocoap.Message(code=aiocoap.POST, uri="coap://127.0.0.1:%d/%s" % (port, path),
                              payload=body, content_format=60)
        return await asyncio.wait_for(ctx.request(req).response, timeout)
    finally:
        await ctx.shutdown()


def test_fleet_stand_in_stores_once_survives_restart_and_offers_commands(tmp_path: Path) -> None:
    f = FleetStandIn(tmp_path).start()
    try:
        port = f.relay.public[1]
        ev = {"dev": "gg-t1", "seq": 1, "k": "boot", "up": 0, "boot": 1}
        r = asyncio.run(_post(port, "gg/ev", "event", ev))
        assert r.code == aiocoap.CHANGED and messages.decode("ack", r.payload)["seq"] == 1
        asyncio.run(_post(port, "gg/ev", "event", ev))  # a duplicate is acked, not stored twice
        assert f.store.seqs("gg-t1") == [1] and f.store.duplicates == 1
        cid = f.store.queue("gg-t1", "selftest")
        f.restart()
        assert f.store.seqs("gg-t1") == [1]  # reloaded from disk
        r = asyncio.run(_post(port, "gg/ev", "event", dict(ev, seq=2, k="alarm", lvl=1)))
        ack = messages.decode("ack", r.payload)
        assert ack["cmds"] == [{"id": cid, "op": "selftest"}] and ack["pc"] == 1
        asyncio.run(_post(port, "gg/cr", "command_result", {"dev": "gg-t1", "id": cid, "st": "done", "ok": True}))
        assert f.store.cmds["gg-t1"] == [] and f.store.seqs() == [1, 2]
        bad = asyncio.run(_post(port, "gg/ev", None, {"dev": "gg-t1", "seq": 3, "k": "leak", "up": 0}))
        assert bad.code == aiocoap.BAD_REQUEST and b"event.k" in bad.payload
        f.relay.loss = 1.0
        with pytest.raises((asyncio.TimeoutError, aiocoap.error.Error)):
            asyncio.run(_post(port, "gg/ev", "event", dict(ev, seq=4), timeout=3))
        assert f.relay.counts["dropped"] >= 1 and 4 not in f.store.seqs()
    finally:
        f.close()


class FakeNumato:
    """A Numato-like GPIO module on a pty: echoes, answers `gpio read`, keeps `gpio set/clear`."""

    def __init__(self) -> None:
        self.master, slave = pty.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        self._slave = slave
        self.levels = {i: 0 for i in range(16)}
        self.log: list[str] = []
        self._stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        buf = b""
        while not self._stop:
            try:
                buf += os.read(self.master, 256)
            except OSError:
                return
            while b"\r" in buf:
                line, buf = buf.split(b"\r", 1)
                cmd = line.decode().strip()
                self.log.append(cmd)
                out = cmd + "\n\r"
                parts = cmd.split()
                if len(parts) == 3 and parts[0] == "gpio":
                    n = int(parts[2], 36)
                    if parts[1] == "read":
                        out += "%d\n\r" % self.levels[n]
                    elif parts[1] in ("set", "clear"):
                        self.levels[n] = 1 if parts[1] == "set" else 0
                os.write(self.master, (out + ">").encode())

    def close(self) -> None:
        self._stop = True
        os.close(self.master)
        os.close(self._slave)


def test_gpio_rig_drives_relays_and_timestamps_readback() -> None:
    fake = FakeNumato()
    rig = rigfile.load_rig(REPO / "bench" / "rigs" / "esp32-rig.example.toml")
    rig["gpio"]["poll_ms"] = 1
    g = GpioRig(rig, adapter=NumatoGpio(fake.port))
    try:
        assert fake.levels[5] == 1  # the power relay is active low: idle = energised line high = powered
        t = g.apply_gas("methane", 40.0)
        assert fake.levels[0] == 1 and t >= 0
        g.sensor_fault("open")
        assert fake.levels[3] == 1 and fake.levels[4] == 0
        g.sensor_fault(None)
        assert fake.levels[3] == 0
        g.power_cut()
        assert fake.levels[5] == 0
        g.power_restore()
        fake.levels[8] = 1  # the red LED lights
        e = g.wait_edge("red", 1, t, 5)
        assert e is not None and e.t >= t
        fake.levels[13] = 1  # position switch: the esp32-mq4 reads 0 when closed
        assert g.wait_edge("valve", "open", 0, 5) is not None
        with pytest.raises(Exception, match="mass-flow"):
            g.apply_gas("methane", 30.0, ramp_s=60)
        with pytest.raises(Exception, match="no cylinder"):
            g.apply_gas("methane", 12.0)
    finally:
        rig["gas"]["purge_s"] = 0
        g.close()
        fake.close()
    assert "gpio set 0" in fake.log and "gpio read 8" in fake.log


def _session(tmp_path: Path, i: int, rows: list[dict], junit: str, rc: int = 0) -> dict:
    import json

    out = tmp_path / ("r%d.json" % i)
    out.write_text(json.dumps({"meta": {"fw": "9.9.9", "board": "sim", "device_id": "gg-x", "setpoint": 25,
                                        "confirm_s": 15}, "rows": rows}))
    j = tmp_path / ("j%d.xml" % i)
    j.write_text(junit)
    return {"out": out, "junit": j, "port": "/dev/pts/%d" % i, "rc": rc, "group": []}


def _row(pid: str, ok: bool) -> dict:
    return {"id": pid, "title": "T " + pid, "limit": "≤ 30 s", "value": 16.0, "unit": "s", "ok": ok,
            "source": "GB", "note": "n|x", "test": "test_" + pid}


JUNIT = ('<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="1">'
         '<testcase classname="c" name="test_%s" time="1.5">%s</testcase></testsuite></testsuites>')


def test_report_passes_only_when_every_row_and_test_passes(tmp_path: Path) -> None:
    rig = rigfile.load_rig("sim")
    good = [_session(tmp_path, 0, [_row("alarm_1_6x", True)], JUNIT % ("alarm_response", ""))]
    r = report.merge(good, rig, firmware="fw", wall_s=1.0, expected=["alarm_response"])
    assert r["passed"] and r["fw"] == "9.9.9"
    report.write(r, tmp_path / "out", good)
    md = (tmp_path / "out" / "report.md").read_text()
    assert "PASS" in md and "9.9.9" in md and "16.00 s" in md and "≤ 30 s" in md and "narrow range" in md
    assert "<b>9.9.9</b>" in (tmp_path / "out" / "report.html").read_text()
    assert b"test_alarm_response" in (tmp_path / "out" / "junit.xml").read_bytes()
    bad_row = [_session(tmp_path, 1, [_row("alarm_1_6x", False)], JUNIT % ("alarm_response", ""))]
    assert not report.merge(bad_row, rig, firmware="fw", wall_s=1, expected=["alarm_response"])["passed"]
    failed = [_session(tmp_path, 2, [_row("a", True)], JUNIT % ("alarm_response", '<failure message="boom"/>'), rc=1)]
    r = report.merge(failed, rig, firmware="fw", wall_s=1, expected=["alarm_response"])
    assert not r["passed"] and r["tests"][0]["outcome"] == "failed"
    missing = report.merge(good, rig, firmware="fw", wall_s=1, expected=["alarm_response", "short_spike"])
    assert not missing["passed"] and "procedure short_spike did not run" in missing["problems"]

"""The bench procedures. Each records its measured values against their limits (`record`); the
same tests run on a real rig and on the virtual board (only the rig file differs). Limits and
their sources: shared/STANDARDS.md (Detector; Valves) and docs/bench.md."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from bench.hil import rigfile
from bench.hil.rig import Rig

SRC_RESPONSE = "GB 15322.2 response test (likely)"
SRC_SPIKE = "GB 15322.2 new edition (sure)"
SRC_VALVE = "GB 50028 §10.8.4 (sure)"


def _gas(rig_cfg: dict[str, Any]) -> str:
    return str(rig_cfg["device"].get("gas") or rig_cfg["board_def"].sensor.gas)


def _red_edges(rig: Rig, since: int) -> list[Any]:
    return [e for e in rig.edges(since) if e.name == "red" and e.value == 1]


def _console_check(dut: Any, record: Any, pid: str) -> None:
    """Whatever the board printed during the procedure: no traceback, no crashed task."""
    try:
        text = open(dut.logfile, errors="replace").read()
    except OSError:
        text = ""
    bad = [ln for ln in text.splitlines() if re.search(r"Traceback|crashed|lost:", ln)]
    record(pid + ".console", "Console: no traceback, crashed task or lost event", "0 lines", len(bad), "lines",
           not bad, note=" | ".join(bad[:3]))


def _wait(pred: Any, timeout_s: float, step: float = 0.2) -> Any:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def test_alarm_response(dut, fresh, fleet, rig_cfg, record) -> None:
    """Alarm at 1.6 x set point within 30 s; valve drive at the decision; the valve closes and
    never reopens by itself (through the alarm clearing, a hold and a reset); recovery within 60 s."""
    rig = fresh
    p = rig_cfg["procedures"]
    sp = rigfile.setpoint(rig_cfg)
    t0 = rig.apply_gas(_gas(rig_cfg), 1.6 * sp)
    red = rig.wait_edge("red", 1, t0, 45)
    dt = None if red is None else (red.t - t0) / 1000
    record("alarm_1_6x", "Alarm at 1.6 × set point (%.0f %%LEL)" % (1.6 * sp), "≤ 30 s", dt, "s",
           dt is not None and dt <= 30, SRC_RESPONSE)
    if red is None:
        record.check()
    drive = [e for e in rig.edges(t0) if e.name == "valve_drive" and e.value == (1 if rig.board.valve.kind == "pulse" else 0)]
    d_ms = None if not drive else drive[0].t - red.t
    record("decision_to_drive", "Alarm decision (first alarm indication) → valve drive",
           "≤ %d ms" % p["drive_limit_ms"], d_ms, "ms", d_ms is not None and d_ms <= p["drive_limit_ms"],
           "ours: the handler drives the valve inside the deciding sample",
           note="negative: the drive came before the indication" if d_ms is not None and d_ms < 0 else "")
    closed = rig.wait_edge("valve", "closed", t0, 10)
    c_s = None if closed is None else (closed.t - red.t) / 1000
    limit_c = rig.board.valve.closing_ms / 1000 + 1
    record("valve_closes", "Valve closed after the alarm", "≤ %.1f s" % limit_c, c_s, "s",
           c_s is not None and c_s <= limit_c, SRC_VALVE)
    # gas removed: recovery
    t1 = rig.clear_gas()
    off = rig.quiet_since("red", t1, 3.0, 75)
    r_s = None if off is None else max(0, off - t1) / 1000
    record("recovery", "Recovery after the gas is removed (alarm indication off)", "≤ 60 s", r_s, "s",
           r_s is not None and r_s <= 60, "GB 50166 site test (likely)")
    # the valve stays closed: hold, then a reset
    time.sleep(float(p["latch_hold_s"]))
    rig.reset()
    time.sleep(5)
    opened = [e for e in rig.edges(t0) if e.name == "valve" and e.value == "open"]
    open_level = [e for e in rig.edges(t0) if e.name == "valve_drive" and rig.board.valve.kind == "hold" and e.value == 1]
    held = (rig.now_ms() - t0) / 1000
    record("valve_latched", "Valve never reopens by itself (alarm cleared, %.0f s hold, a reset)" % p["latch_hold_s"],
           "0 reopenings", len(opened) + len(open_level), "reopenings",
           not opened and not open_level and rig.valve_state() == "closed", SRC_VALVE,
           note="watched %.0f s" % held)
    _console_check(dut, record, "alarm_response")
    record.check()


def test_short_spike(dut, fresh, rig_cfg, record) -> None:
    """A spike shorter than the confirmation window does not alarm."""
    rig = fresh
    p = rig_cfg["procedures"]
    sp = rigfile.setpoint(rig_cfg)
    win = rigfile.confirm_s(rig_cfg)
    spike = float(p["spike_s"])
    gas = _gas(rig_cfg)
    t0 = rig.apply_gas(gas, 1.6 * sp)
    time.sleep(spike)
    t1 = rig.clear_gas()
    time.sleep(max(0.0, win - spike) + float(p["observe_s"]))
    alarms = _red_edges(rig, t0)
    record("short_spike", "No alarm for a %.1f s spike at 1.6 × set point (window %.0f s)" % ((t1 - t0) / 1000, win),
           "0 alarms", len(alarms), "alarms", not alarms and spike < win, SRC_SPIKE)
    _console_check(dut, record, "short_spike")
    record.check()


def test_warmup_alarm(dut, fresh, fleet, rig_cfg, record) -> None:
    """Alarm while the sensor warms up: power on, gas at once, alarm within 30 s while warming."""
    rig = fresh
    sp = rigfile.setpoint(rig_cfg)
    warm = float(rig_cfg["device"].get("sensor", {}).get("warmup_s", rig.board.sensor.warmup_s))
    rig.power_cut()
    time.sleep(1)
    t_on = rig.power_restore()
    rx0 = time.time()
    t0 = rig.apply_gas(_gas(rig_cfg), 1.6 * sp)
    red = rig.wait_edge("red", 1, t0, 45)
    dt = None if red is None else (red.t - t0) / 1000
    in_warm = red is not None and (red.t - t_on) / 1000 < warm
    record("warmup_alarm", "Alarm during warm-up (gas %.1f s after power-on; warm-up %.0f s)"
           % ((t0 - t_on) / 1000, warm), "≤ 30 s, still warming", dt, "s",
           dt is not None and dt <= 30 and in_warm, "GB 15322.2-2019 (sure)")
    hb = _wait(lambda: [h for h in list(fleet.store.hbs) if h["rx"] >= rx0 and h.get("alarm", 0) >= 1
                        and h.get("warmup")], 20)
    record("warmup_alarm.reported", "Device reports alarm and warm-up together (heartbeat)", "alarm ≥ 1 with warmup",
           bool(hb), "", bool(hb))
    _console_check(dut, record, "warmup_alarm")
    record.check()


def test_slow_ramp(dut, fresh, rig_cfg, record) -> None:
    """Set-point accuracy on a slow ramp: action value within ±3 %LEL of the set point."""
    rig = fresh
    p = rig_cfg["procedures"]
    sp = rigfile.setpoint(rig_cfg)
    win = rigfile.confirm_s(rig_cfg)
    rate = float(p["ramp_rate"])
    c0, c1 = sp + float(p["ramp_from"]), sp + float(p["ramp_to"])
    gas = _gas(rig_cfg)
    t_hold = rig.apply_gas(gas, c0)
    time.sleep(win + 3)
    early = _red_edges(rig, t_hold)
    ramp_s = (c1 - c0) / rate * 60
    t0 = rig.apply_gas(gas, c1, ramp_s=ramp_s)
    red = None if early else rig.wait_edge("red", 1, t0, ramp_s + win + 10)
    note = "ramp %.1f→%.1f %%LEL at %.2f %%LEL/min" % (c0, c1, rate)
    if early:
        value, ok = None, False
        note += "; alarm during the hold at %.1f: the action value is below the tested range" % c0
    elif red is None:
        value, ok = None, False
        note += "; no alarm by the end of the ramp"
    else:
        value = round(min(c1, c0 + rate * (red.t - t0) / 60000), 2)
        ok = abs(value - sp) <= 3.0
        note += "; concentration when the alarm showed (includes the %.0f s window: +%.2f)" % (win, rate * win / 60)
    record("slow_ramp", "Set-point accuracy on a slow ramp (set point %.0f %%LEL)" % sp, "%.0f ± 3 %%LEL" % sp,
           value, "%LEL", ok, "GB 15322.1 (likely)", note)
    _console_check(dut, record, "slow_ramp")
    record.check()


def test_interference(dut, fresh, fleet, rig_cfg, record) -> None:
    """No alarm from alcohol or cooking fumes below the set point."""
    rig = fresh
    sp = rigfile.setpoint(rig_cfg)
    for it in rig_cfg["procedures"]["interference"]:
        rx0 = time.time()
        t0 = rig.apply_gas(it["gas"], float(it["value"]), unit=it.get("unit", "ppm"))
        time.sleep(float(it.get("hold_s", 25)))
        rig.apply_gas(it["gas"], 0.0, unit=it.get("unit", "ppm"))
        alarms = _red_edges(rig, t0)
        lels = [h["lel"] for h in list(fleet.store.hbs) if h["rx"] >= rx0 and "lel" in h]
        peak = max(lels) if lels else None
        record("interference_" + it["gas"], "No alarm from %s at %s %s for %.0f s" % (
            it["gas"], it["value"], it.get("unit", "ppm"), float(it.get("hold_s", 25))),
            "0 alarms", len(alarms), "alarms", not alarms, "GB 15322.2 new edition (sure; exposure ours)",
            note="highest reading in heartbeats: %s %%LEL (set point %.0f)" % (peak, sp))
        rig.quiet_since("red", t0, 2.0, 30)
    _console_check(dut, record, "interference")
    record.check()


def test_power_loss(dut, fresh, fleet, rig_cfg, record) -> None:
    """Power loss: the valve does what the board declares (close_on_power_loss, hold valve)."""
    rig = fresh
    v = rig.board.valve
    closes = bool(v.close_on_power_loss or v.kind == "hold")
    rx0 = time.time()
    t_cut = rig.power_cut()
    time.sleep(v.closing_ms / 1000 + 1.5)
    closed = rig.wait_edge("valve", "closed", t_cut, 0.1)
    dt = None if closed is None else (closed.t - t_cut) / 1000
    if closes:
        ok = dt is not None and dt <= v.closing_ms / 1000 + 0.5
        limit = "closed ≤ %.1f s (declared: closes on power loss)" % (v.closing_ms / 1000 + 0.5)
    else:
        ok = closed is None
        limit = "unchanged (declared: stays as it is)"
    record("power_loss", "Valve on power loss", limit, dt if closes else rig.valve_state(), "s" if closes else "",
           ok, "GB 50028 §10.5.3, GB 55009 §6.2 (sure); board %s" % rig.board.name)
    t_on = rig.power_restore()
    time.sleep(5)
    reopened = [e for e in rig.edges(t_on) if e.name == "valve" and e.value == "open"]
    record("power_loss.after", "Valve after power returns", "no reopening", len(reopened), "reopenings",
           not reopened and (rig.valve_state() == "closed") == closes, SRC_VALVE)
    boot = _wait(lambda: [e for e in fleet.store.kinds(fleet.dev, since=rx0) if e["k"] == "boot"], 30)
    record("power_loss.boot", "Boot after power returns reported as power-on", "boot = 1",
           boot[-1].get("boot") if boot else None, "", bool(boot) and boot[-1].get("boot") == 1)
    if closes and rig.board.pins.valve_feedback is not None:
        ev = _wait(lambda: [e for e in fleet.store.kinds(fleet.dev, since=rx0)
                            if e["k"] == "valve_closed" and e.get("src") == "power"], 30)
        record("power_loss.event", "Close on power loss reported (valve_closed, src power)", "reported",
               bool(ev), "", bool(ev))
    _console_check(dut, record, "power_loss")
    record.check()


def _gapless(fleet: Any, after: int, upto: int) -> list[int]:
    have = set(fleet.store.seqs(fleet.dev))
    return [s for s in range(after + 1, upto + 1) if s not in have]


def _device_last_seq(fleet: Any, rx0: float, timeout_s: float) -> int | None:
    """The device's last sequence number from a heartbeat sent after rx0 with an empty outbox."""
    hb = _wait(lambda: [h for h in list(fleet.store.hbs) if h["rx"] >= rx0 and h.get("outbox", 1) == 0], timeout_s)
    return int(hb[-1]["last_seq"]) if hb else None


def test_events_survive_reboot(dut, fresh, fleet, rig_cfg, record) -> None:
    """Events waiting in the outbox survive power cuts: with the fleet unreachable the board is
    power-cycled three times (each boot is an event, queued on flash), then everything arrives."""
    rig = fresh
    base = _device_last_seq(fleet, time.time(), 30) or max(fleet.store.seqs(fleet.dev) or [0])
    fleet.relay.loss = 1.0  # the fleet is unreachable
    rx0 = time.time()
    for _ in range(3):
        time.sleep(2)
        rig.power_cut()
        time.sleep(1)
        rig.power_restore()
    time.sleep(2)
    fleet.relay.loss = 0.0
    boots = _wait(lambda: len([e for e in fleet.store.kinds(fleet.dev, since=rx0) if e["k"] == "boot"]) >= 3, 90)
    last = _device_last_seq(fleet, time.time(), 60)
    missing = _gapless(fleet, base, last or 0)
    got = [e["k"] for e in fleet.store.kinds(fleet.dev, since=rx0)]
    record("events_reboot", "Events queued across 3 power cuts arrive once the fleet is back", "0 missing",
           len(missing) if last else None, "events", bool(boots) and last is not None and not missing,
           "docs/protocol.md (seq survives reboot)",
           note="seq %d..%s; kinds %s%s" % (base + 1, last, ",".join(got), "; missing %s" % missing if missing else ""))
    _console_check(dut, record, "events_reboot")
    record.check()


def test_loss_and_fleet_restart(dut, fresh, fleet, rig_cfg, record) -> None:
    """No event lost with 30 % packet loss and a fleet restart in the middle. Events: self-tests
    the fleet asks for (each a selftest event and a result) and resets (each a boot event)."""
    rig = fresh
    p = rig_cfg["procedures"]
    base = _device_last_seq(fleet, time.time(), 30) or max(fleet.store.seqs(fleet.dev) or [0])
    fleet.relay.loss = float(p["loss"])
    dropped0 = fleet.relay.counts["dropped"]
    n = int(p["loss_events"])
    t_start = time.time()
    asked = 0
    for i in range(n):
        if i == n // 2:
            fleet.restart(down_s=3)
        if i % 3 == 2:
            rig.reset()
            time.sleep(2)
        else:
            fleet.store.queue(fleet.dev, "selftest")
            asked += 1
            time.sleep(3)
    t_end = time.time()
    last = None
    end = time.monotonic() + float(p["delivery_timeout_s"])

    def answered() -> int:
        return len({r["id"] for r in list(fleet.store.results) if r.get("dev") == fleet.dev and r["rx"] >= t_start})

    while time.monotonic() < end:
        last = _device_last_seq(fleet, t_end, 5)
        if last is not None and last >= base + n and not _gapless(fleet, base, last):
            break
    t_done = time.time()
    _wait(lambda: answered() >= asked, 20)  # command results are not events: reported, not judged
    missing = _gapless(fleet, base, last or 0) if last else None
    lost = None if missing is None else len(missing)
    record("loss_restart", "No event lost: %.0f %% packet loss, fleet restart in the middle" % (100 * float(p["loss"])),
           "0 lost", lost, "events", lost == 0 and last is not None and last >= base + n,
           "docs/protocol.md (CON, seq, outbox)",
           note="seq %d..%s, %d datagrams dropped, %d duplicate deliveries ignored, %d restart(s), %d/%d self-test "
           "results back, delivery done %.0f s after the last event was made" % (
               base + 1, last, fleet.relay.counts["dropped"] - dropped0, fleet.store.duplicates, fleet.restarts,
               answered(), asked, t_done - t_end))
    record("loss_restart.duration", "Procedure length (events made over)", "info", round(t_end - t_start), "s", True)
    fleet.relay.loss = 0.0
    _console_check(dut, record, "loss_restart")
    record.check()


PROBE = """
import micropython, time
from firmware import valve as _v
class _P:
    def __init__(self, lvl):
        self.v = lvl
        self.t = 0
    def value(self, x=None):
        if x is None:
            return self.v
        self.t = time.ticks_us()
        self.v = x
class _F:
    def set(self):
        pass
def _probe():
    # locals only: a global store under heap_lock could grow the globals dict
    d = _P(0)
    va = _v.Valve(d, None, _F(), kind="pulse", path=None, comparator_level=1)
    src = _P(1)
    tr = va.trip
    allocs = 0
    res = []
    for i in range(21):
        s = src if i % 2 else 1
        e = 0
        t0 = time.ticks_us()
        micropython.heap_lock()
        try:
            tr(s)
        except MemoryError:
            e = 1
        micropython.heap_unlock()
        allocs += e
        res.append(time.ticks_diff(d.t, t0))
        d.v = 0
    res.sort()
    print("HIL-PROBE", allocs, res[len(res) // 2], res[-1])
_probe()
"""


def _raw_exec(dut: Any, code: str, timeout: float = 15) -> str:
    """Interrupt the app, run code in the raw REPL (the protocol mpremote speaks), return stdout."""
    w = dut.serial.proc.write
    w(b"\r\x03")
    time.sleep(0.3)
    w(b"\x03")
    time.sleep(0.3)
    w(b"\r\x01")
    dut.expect_exact("raw REPL; CTRL-B to exit", timeout=timeout)
    dut.expect_exact(">", timeout=timeout)
    w(code.encode() + b"\x04")
    dut.expect_exact("OK", timeout=timeout)
    m = dut.expect(re.compile(rb"([^\x04]*)\x04([^\x04]*)\x04"), timeout=timeout)
    out, err = m.group(1).decode(errors="replace"), m.group(2).decode(errors="replace")
    if err.strip():
        raise AssertionError("on the board:\n" + err)
    return out


def test_fast_path(dut, fresh, fleet, rig_cfg, record) -> None:
    """The valve handler, on the board itself: allocates nothing (under heap_lock) and drives the
    valve line within the limit of being called. Runs in the raw REPL with a stand-in pin, so
    the rig's valve is not moved; the app is restarted with a soft reset afterwards."""
    p = rig_cfg["procedures"]
    rx0 = time.time()
    try:
        out = _raw_exec(dut, PROBE)
    finally:
        dut.serial.proc.write(b"\x02")  # friendly REPL
        time.sleep(0.3)
        dut.serial.proc.write(b"\x04")  # soft reset: boot.py, main.py
    m = re.search(r"HIL-PROBE (\d+) (-?\d+) (-?\d+)", out)
    assert m, "probe printed nothing useful: %r" % out
    allocs, med, worst = (int(x) for x in m.groups())
    record("fast_path_alloc", "Valve handler allocates nothing (21 calls under heap_lock, code and pin IRQ)",
           "0 MemoryError", allocs, "calls", allocs == 0, "docs/firmware.md §6; MICROPYTHON.md (ESP32 soft IRQ, hard-IRQ rules)")
    record("fast_path_time", "Handler call → valve line driven (median of 21, on the board)",
           "≤ %d µs" % p["handler_limit_us"], med, "µs", allocs == 0 and 0 <= med <= p["handler_limit_us"],
           "ours", note="worst %d µs" % worst)
    back = _wait(lambda: [r for r in list(fleet.store.regs) if r["rx"] >= rx0], 30)
    record("fast_path.restart", "App back after the probe (registers again)", "registered", bool(back), "", bool(back))
    record.check()


def _fault_events(fleet: Any, rx0: float, kind: str, bit: int) -> list[dict[str, Any]]:
    return [e for e in fleet.store.kinds(fleet.dev, since=rx0) if e["k"] == kind and e.get("f", 0) & bit]


def test_sensor_faults(dut, fresh, fleet, rig_cfg, record) -> None:
    """Fault signalled on an open and on a shorted sensor (yellow indication and a fault event)."""
    rig = fresh
    lim = float(rig_cfg["procedures"]["fault_limit_s"])
    for kind, bit in (("open", 1), ("short", 2)):
        rx0 = time.time()
        t0 = rig.sensor_fault(kind)
        y = rig.wait_edge("yellow", 1, t0, lim + 5)
        dt = None if y is None else (y.t - t0) / 1000
        ev = _wait(lambda: _fault_events(fleet, rx0, "fault", bit), 20)
        record("fault_" + kind, "Fault signalled on a%s %s sensor" % ("n" if kind == "open" else "", kind),
               "≤ %.0f s, fault bit %d reported" % (lim, bit), dt, "s",
               dt is not None and dt <= lim and bool(ev), "GB 15322.2-2019 §3.3.1.2 (yellow = fault); limit ours",
               note="" if ev else "no fault event with bit %d at the fleet" % bit)
        rig.sensor_fault(None)
        cleared = _wait(lambda: _fault_events(fleet, rx0, "fault_clear", bit), 20)
        record("fault_%s.clear" % kind, "Fault clears when the sensor is wired again", "fault_clear reported",
               bool(cleared), "", bool(cleared))
    _console_check(dut, record, "sensor_faults")
    record.check()

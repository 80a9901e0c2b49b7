# runs-on: micropython cpython
# mp-heapsize: 1m
"""The whole app on the simulated board, in-process: the sim's machine (MQ-4 physics, pulse
valve with feedback, comparator, LEDs) drives firmware.app.App on the sim's world clock."""
import json

from boards.sim.device import install
from firmware import store
from firmware.app import App
from fw_fakes import cleanup, tmpdir
from protocol import messages

teardown_function = cleanup

STEP = 500


def board():
    install.install()  # puts the sim's folder on sys.path
    import simworld

    return simworld.DEFAULT_BOARD


def setup(config=None, root=None, noise=True, machine=None, warmup_s=None):
    if root is None:
        root = tmpdir("app")
        b = dict(board())
        if warmup_s is not None:
            b["sensor"] = dict(b["sensor"])
            b["sensor"]["warmup_s"] = warmup_s
        store.write_json(root + "/board.json", b)
        cfg = {"device_id": "gg-test01", "model": "GG-T", "site": "S1"}
        cfg.update(config or {})
        store.write_json(root + "/config.json", cfg)
    if machine is None:
        machine = install.install()
        machine.sim.freeze()
        if not noise:
            machine.sim.sensor.noise = 0
    sim = machine.sim
    app = App(root, machine=machine, maint=True, clock=sim.now_ms)
    return app, sim, machine, root


def run(app, sim, ms):
    end = sim.now_ms() + ms
    while sim.now_ms() < end:
        sim.advance(STEP)
        app.detector.sample(app.adc.read_u16(), sim.now_ms())


def events(root):
    out = []
    for name in store.listdir(root + "/ob"):
        if not name.endswith(".tmp"):
            out.append(store.read_json(root + "/ob/" + name))
    out.sort(key=lambda e: e["seq"])
    return out


def kinds(root):
    return [e["k"] for e in events(root)]


def test_app__clean_air_reads_zero_and_health_is_a_valid_heartbeat():
    app, sim, m, root = setup()
    run(app, sim, 10000)
    h = app.health()
    messages.validate("heartbeat", h)
    assert h["lel"] < 1.0 and h["alarm"] == 0 and h["faults"] == 0 and h["valve"] == 0
    assert sim.leds()["green"] == 1
    assert kinds(root) == ["boot"]
    messages.validate("registration", app.registration())


def test_app__leak_at_1_6x_alarms_within_30_s_and_closes_the_valve():
    app, sim, m, root = setup({"sensor": {"comparator": False}})
    run(app, sim, 10000)
    t0 = sim.now_ms()
    sim.set_gas("methane", 40.0)
    run(app, sim, 35000)
    evs = events(root)
    alarm = [e for e in evs if e["k"] == "alarm"]
    closed = [e for e in evs if e["k"] == "valve_closed"]
    assert alarm and closed and closed[0]["src"] == "alarm"
    assert 15 <= alarm[0]["up"] - (t0 - app.t0) // 1000 <= 30
    assert abs(alarm[0]["lel"] - 40.0) < 8.0  # the reading is right within the curve's error
    assert sim.valve.state == "closed"
    reds = [e for e in sim.led_log if e[1] == "red" and e[2] == 1]
    assert len(reds) >= 5  # flashing, not steady
    for e in evs:
        messages.validate("event", e)


def test_app__comparator_closes_the_valve_through_the_handler_before_the_alarm():
    app, sim, m, root = setup()
    run(app, sim, 5000)
    sim.set_gas("methane", 40.0)
    run(app, sim, 2000)
    assert sim.valve.state in ("closing", "closed")
    assert app.valve.last_trip()[1] == "comparator"
    assert "alarm" not in kinds(root)  # the alarm itself still waits for its window
    run(app, sim, 20000)
    assert kinds(root).count("valve_closed") == 1 and "alarm" in kinds(root)


def test_app__short_spike_does_not_alarm():
    app, sim, m, root = setup({"sensor": {"comparator": False}})
    run(app, sim, 5000)
    sim.set_gas("methane", 60.0)
    run(app, sim, 12000)
    sim.set_gas("methane", 0.0)
    run(app, sim, 30000)
    assert "alarm" not in kinds(root) and sim.valve.state == "open"


def test_app__alarm_during_warm_up():
    app, sim, m, root = setup({"sensor": {"comparator": False}}, warmup_s=600)
    sim.set_gas("methane", 40.0)
    run(app, sim, 30000)
    assert app.sensor.warming(sim.now_ms())
    assert "alarm" in kinds(root) and sim.valve.state == "closed"


def test_app__reboot_in_alarm_keeps_the_valve_closed_and_numbers_continue():
    app, sim, m, root = setup({"sensor": {"comparator": False}})
    sim.set_gas("methane", 40.0)
    run(app, sim, 25000)
    assert sim.valve.state == "closed"
    last = app.outbox.last
    pulses = sim.valve.pulses
    app2, sim, m, root = setup(root=root, machine=m)  # reboot, gas still there
    assert app2.valve.state == 1
    run(app2, sim, 25000)
    assert sim.valve.state == "closed"
    seqs = [e["seq"] for e in events(root)]
    assert seqs == list(range(1, len(seqs) + 1)) and seqs[-1] > last
    assert events(root)[last]["k"] == "boot"  # the next number after the reboot
    drive = [e for e in sim.events if e[2] == "valve_drive"]
    assert all(e[3] in (0, 1) for e in drive) and sim.valve.pulses >= pulses


def test_app__hand_reopen_is_reported_and_never_undone_without_gas():
    app, sim, m, root = setup({"sensor": {"comparator": False}})
    sim.set_gas("methane", 40.0)
    run(app, sim, 25000)
    sim.set_gas("methane", 0.0)
    run(app, sim, 30000)
    assert "alarm_clear" in kinds(root)
    sim.valve_reopen()
    run(app, sim, 5000)
    assert kinds(root)[-1] == "valve_reopened" and sim.valve.state == "open"
    run(app, sim, 20000)
    assert sim.valve.state == "open"


def test_app__bad_config_falls_back_to_defaults_with_a_fault_and_still_alarms():
    app, sim, m, root = setup({"alarm": {"low": 80, "confirm_s": "soon"},
                               "sensor": {"comparator": False}})
    assert app.s.low == 25.0 and app.s.confirm_s == 15.0
    assert any("alarm.low: expected a number 1..25, got 80" in p for p in app.s.problems)
    assert events(root)[1]["k"] == "fault" and events(root)[1]["f"] == 128
    sim.set_gas("methane", 40.0)
    run(app, sim, 25000)
    assert "alarm" in kinds(root)


def test_app__unreadable_config_file_is_a_fault_not_silence():
    root = tmpdir("app")
    store.write_json(root + "/board.json", board())
    with open(root + "/config.json", "w") as f:
        f.write("{not json")
    app, sim, m, root = setup(root=root)
    assert app.detector.extra_faults & 128
    assert "config.json: not valid JSON" in app.s.problems[0]
    sim.set_gas("methane", 40.0)
    run(app, sim, 25000)
    assert sim.valve.state == "closed"


def test_app__commands_close_and_selftest_once_per_id():
    app, sim, m, root = setup()
    from firmware.reporter import Commands

    c = Commands(app.dev, {"close_valve": app._cmd_close, "selftest": app._cmd_selftest})
    r1 = c.run({"id": 7, "op": "selftest"})
    assert r1["st"] == "done" and r1["ok"] is True
    assert c.run({"id": 7, "op": "selftest"}) is r1
    assert kinds(root).count("selftest") == 1
    assert c.run({"id": 8, "op": "open_valve"})["st"] == "refused"
    c.run({"id": 9, "op": "close_valve"})
    run(app, sim, 3000)
    assert sim.valve.state == "closed"
    assert events(root)[-1]["src"] == "command"
    messages.validate("command_result", r1)


def test_app__alarm_level_survives_reboot_and_clears_after_it():
    app, sim, m, root = setup({"sensor": {"comparator": False}})
    sim.set_gas("methane", 40.0)
    run(app, sim, 25000)
    sim.set_gas("methane", 0.0)
    app2, sim, m, root = setup(root=root, machine=m)  # power back, gas gone
    assert app2.alarm.level == 1
    run(app2, sim, 20000)
    assert kinds(root)[-1] == "alarm_clear" and app2.alarm.level == 0
    assert sim.valve.state == "closed"


def run_main(app, ms):
    """Run App.main() for `ms` of real time, then stop it and its tasks."""
    import asyncio

    from firmware import port

    async def stop():
        await port.sleep_ms(ms)
        app._dead = True

    async def both():
        asyncio.create_task(stop())
        await app.main()

    if hasattr(asyncio, "new_event_loop"):
        asyncio.new_event_loop()
    try:
        asyncio.run(both())
    finally:
        app.deinit()


def fresh(config=None):
    m = install.install()
    root = tmpdir("app")
    store.write_json(root + "/board.json", board())
    cfg = {"device_id": "gg-test02"}
    cfg.update(config or {})
    store.write_json(root + "/config.json", cfg)
    return m, root


def test_app__normal_boot_arms_the_watchdog_and_feeds_it():
    m, root = fresh()
    app = App(root, machine=m, maint=False, clock=m.sim.now_ms)
    run_main(app, 1500)
    assert m.sim.wdt_timeout == 10000
    assert m.sim.now_ms() - m.sim.wdt_fed < 2000
    assert app.detector.samples >= 2


def test_app__maintenance_boot_leaves_the_watchdog_off_but_detects():
    from firmware.app import maintenance_requested

    m, root = fresh()
    assert maintenance_requested(root, m) is False
    store.write_atomic(root + "/maint", "1")
    assert maintenance_requested(root, m) is True
    m2, root2 = fresh()
    m2.sim.press_button(ms=5000)
    assert maintenance_requested(root2, m2) is True  # the button held at boot
    app = App(root, machine=m, maint=True, clock=m.sim.now_ms)
    run_main(app, 1200)
    assert m.sim.wdt_timeout == 0
    assert app.detector.samples >= 2


def test_app__temperature_and_humidity_compensate_the_sensor():
    m, root = fresh()
    m.sim.set_climate(temp_c=35.0, rh_pct=90.0)
    app = App(root, machine=m, maint=True, clock=m.sim.now_ms)
    run_main(app, 800)
    t, rh = app.climate
    assert abs(t - 35.0) < 0.5 and abs(rh - 90.0) < 0.5
    assert abs(app.sensor.comp - (1.0 - 0.008 * 15 - 0.003 * 25)) < 0.01


def test_app__a_crashing_task_is_restarted_and_detection_goes_on():
    import asyncio

    m, root = fresh()
    app = App(root, machine=m, maint=True, clock=m.sim.now_ms)
    calls = [0]

    async def flaky():
        calls[0] += 1
        if calls[0] < 3:
            raise RuntimeError("boom")

    async def both():
        t = asyncio.create_task(app._supervise("flaky", flaky))
        from firmware import port

        await port.sleep_ms(1500)
        return t

    if hasattr(asyncio, "new_event_loop"):
        asyncio.new_event_loop()
    asyncio.run(both())
    assert calls[0] == 3 and app.crashes["flaky"] == 2


def test_app__storage_failure_is_a_fault_and_the_valve_still_closes():
    app, sim, m, root = setup({"sensor": {"comparator": False}})
    app.outbox.dir = root + "/gone/ob"  # flash writes of events now fail
    sim.set_gas("methane", 40.0)
    run(app, sim, 25000)
    assert sim.valve.state == "closed"
    assert app.detector.faults & 256
    in_ram = sorted(app.outbox._ram.values(), key=lambda e: e["seq"])
    assert "alarm" in [e["k"] for e in in_ram]  # still numbered, waiting in RAM


def test_app__zero_and_span_calibration_are_stored_with_who_and_used():
    app, sim, m, root = setup(noise=False)
    sim.sensor.warmup_s = 0
    sim.set_climate(temp_c=30.0)  # the sensor reads differently from its datasheet curve now
    run(app, sim, 5000)
    rs_air = app.calibrate("inst-7", "2026-11-29")
    assert abs(rs_air - 4.4 * (1 - 0.006 * 10)) < 0.1
    sim.set_gas("methane", 50.0)
    run(app, sim, 3000)
    app.calibrate("inst-7", "2026-11-29", span_lel=50.0)
    run(app, sim, 2000)
    assert abs(app.detector.lel / 100 - 50.0) < 1.0
    cal = store.read_json(root + "/cal.json")
    assert cal["zero"] == {"by": "inst-7", "date": "2026-11-29"}
    assert cal["span"]["lel"] == 50.0 and cal["span"]["by"] == "inst-7"
    ev = [e for e in events(root) if e["k"] == "calibration"]
    assert [e["by"] for e in ev] == ["inst-7", "inst-7"]
    for e in ev:
        messages.validate("event", e)
    app2, sim, m, root = setup(root=root, machine=m)  # reboot: the calibration is used
    assert abs(app2.sensor.rs_air - rs_air) < 1e-6


def test_app__power_cut_closes_the_valve_by_itself_and_the_boot_reports_it():
    app, sim, m, root = setup()
    run(app, sim, 3000)
    assert sim.valve.state == "open"
    sim.power_cut()  # stored energy closes the valve (board: close_on_power_loss)
    sim.advance(3000)
    sim.power_restore()
    app2, sim, m, root = setup(root=root, machine=m)
    closed = [e for e in events(root) if e["k"] == "valve_closed"]
    assert closed and closed[-1]["src"] == "power"
    assert app2.valve.state == 1
    ks = kinds(root)
    assert ks[-3:] == ["boot", "power_back", "valve_closed"]
    assert events(root)[-3]["boot"] == 1


def test_app__network_out_of_memory_pauses_reporting_and_detection_goes_on():
    import asyncio
    import sys

    m, root = fresh()
    app = App(root, machine=m, maint=True, clock=m.sim.now_ms)
    stopped = []

    class Part:
        def __init__(self, name):
            self.name = name

        def deinit(self):
            stopped.append(self.name)

        def epoch(self):
            return 1800000000  # the fleet's time, as the reporter last knew it

    app.endpoint, app.reporter = Part("endpoint"), Part("reporter")
    import protocol.paths  # noqa: F401 - reporting's imports, to be forgotten

    async def no_memory():
        raise MemoryError("memory allocation failed, allocating 1280 bytes")

    async def go():
        await app._supervise("coap", no_memory)  # returns once reporting is paused
        app.detector.sample(app.adc.read_u16(), m.sim.now_ms())

    saved = dict(sys.modules)
    if hasattr(asyncio, "new_event_loop"):
        asyncio.new_event_loop()
    try:
        asyncio.run(go())
        gone = "protocol.paths" not in sys.modules
    finally:
        app._dead = True
        _put_back(saved)
    assert sorted(stopped) == ["endpoint", "reporter"]
    assert app.endpoint is None and app.reporter is None and app.net_sheds == 1
    assert app.crashes["coap"] == 3
    assert gone
    assert app.detector.samples == 1
    assert app._times()[1] >= 1800000000  # event times go on from the fleet's last known time


def test_app__memory_short_in_a_detection_task_pauses_reporting_not_detection():
    import asyncio

    m, root = fresh()
    app = App(root, machine=m, maint=True, clock=m.sim.now_ms)
    stopped = []

    class Part:
        def deinit(self):
            stopped.append(1)

        def epoch(self):
            return 0

    app.endpoint, app.reporter = Part(), Part()
    calls = [0]

    async def short_then_fine():
        calls[0] += 1
        if calls[0] <= 3:
            raise MemoryError("memory allocation failed")
        app._dead = True  # the 4th run: the task itself carries on after the pause

    async def go():
        await app._supervise("climate", short_then_fine)

    import sys

    saved = dict(sys.modules)
    if hasattr(asyncio, "new_event_loop"):
        asyncio.new_event_loop()
    try:
        asyncio.run(go())
    finally:
        app._dead = True
        _put_back(saved)
    assert app.net_sheds == 1 and len(stopped) == 2 and app.endpoint is None
    assert calls[0] == 4 and app.crashes["climate"] == 3


def _put_back(saved):
    # the modules a reporting pause forgot: the rest of this test process still uses them
    import sys

    for name in saved:
        sys.modules[name] = saved[name]
        pkg, _, short = name.rpartition(".")
        if pkg in saved:
            setattr(saved[pkg], short, saved[name])

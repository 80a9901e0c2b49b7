# LEDs and buzzer, from the alarm level, the fault bits and the clock.
#
# Patterns are (period_ms, on_ms). The defaults meet GB 15322.2-2019 s3.3.1.2 / GB 16808-2008
# s4.2 (shared/STANDARDS.md): red flashes at >= 1 Hz in alarm, yellow at >= 0.2 Hz on a fault,
# each flash lasts >= 0.25 s, green is steady in normal operation. Low and high alarms look and
# sound different (GB 15322.1: two-level alarms must be told apart). Any pattern can be set in
# /config.json ("indicate"); `check_patterns()` refuses one that breaks those rules.
from firmware.port import const, ticks_add, ticks_diff

# name: (period_ms, on_ms)
DEFAULTS = {
    "red_low": (1000, 500),  # 1 Hz
    "red_high": (500, 250),  # 2 Hz
    "yellow_fault": (2000, 500),  # 0.5 Hz
    "green_warmup": (2000, 1000),  # slow blink while the sensor warms up
    "buzz_low": (1000, 500),  # one beep a second
    "buzz_high": (250, 125),  # rapid beeps
    "buzz_fault": (30000, 100),  # a chirp every 30 s
}

# rules: name -> (max period ms, min on ms, min off ms)
_RULES = {
    "red_low": (1000, 250, 250),
    "red_high": (1000, 250, 250),
    "yellow_fault": (5000, 250, 250),
}

_ALARM_LOW = const(1)
_ALARM_HIGH = const(2)


class IndicateError(Exception):
    pass


def check_patterns(patterns):
    """A full pattern table from DEFAULTS overridden by `patterns` ({name: [period, on]})."""
    out = dict(DEFAULTS)
    for name, value in (patterns or {}).items():
        if name not in DEFAULTS:
            raise IndicateError("indicate.%s: unknown pattern (known: %s)"
                                % (name, ", ".join(sorted(DEFAULTS))))
        try:
            period, on = int(value[0]), int(value[1])
        except (TypeError, ValueError, IndexError):
            raise IndicateError("indicate.%s: expected [period_ms, on_ms], got %r" % (name, value))
        if not (0 < on <= period):
            raise IndicateError("indicate.%s: expected 0 < on_ms <= period_ms, got %r"
                                % (name, value))
        rule = _RULES.get(name)
        if rule is not None:
            if period > rule[0] or on < rule[1] or period - on < rule[2]:
                raise IndicateError(
                    "indicate.%s: %r breaks GB 15322.2 (period <= %d ms, flash and gap >= %d ms)"
                    % (name, value, rule[0], rule[1]))
        out[name] = (period, on)
    return out


def _on(pattern, now, t0):
    period, on = pattern
    return (ticks_diff(now, t0) % period) < on


class Indicator:
    """Constructor: pins (any may be None) and a pattern table. `update(level, faults, warming,
    now_ms)` sets them; allocation-free. `test(now_ms, ms)` lights everything for a self-test."""

    def __init__(self, red=None, yellow=None, green=None, buzzer=None, patterns=None):
        self.red = red
        self.yellow = yellow
        self.green = green
        self.buzzer = buzzer
        p = check_patterns(patterns)
        self.p_red_low = p["red_low"]
        self.p_red_high = p["red_high"]
        self.p_yellow = p["yellow_fault"]
        self.p_green_warm = p["green_warmup"]
        self.p_buzz_low = p["buzz_low"]
        self.p_buzz_high = p["buzz_high"]
        self.p_buzz_fault = p["buzz_fault"]
        self.t0 = 0
        self.muted = False
        self.state = 0  # bit 0 red, 1 yellow, 2 green, 3 buzzer
        self._test_until = 0
        self._testing = False
        self._last_level = 0

    def _set(self, pin, bit, on):
        want = bit if on else 0
        if (self.state & bit) != want:
            self.state = (self.state & ~bit) | want
            if pin is not None:
                pin.value(1 if on else 0)

    def update(self, level, faults, warming, now):
        if level != self._last_level:
            self._last_level = level
            self.t0 = now  # start each alarm pattern with a flash
            self.muted = False
        if self._testing:
            if ticks_diff(now, self._test_until) < 0:
                self._set(self.red, 1, True)
                self._set(self.yellow, 2, True)
                self._set(self.green, 4, True)
                self._set(self.buzzer, 8, True)
                return
            self._testing = False
        if level >= _ALARM_HIGH:
            red = _on(self.p_red_high, now, self.t0)
            buzz = _on(self.p_buzz_high, now, self.t0)
        elif level == _ALARM_LOW:
            red = _on(self.p_red_low, now, self.t0)
            buzz = _on(self.p_buzz_low, now, self.t0)
        else:
            red = False
            buzz = bool(faults) and _on(self.p_buzz_fault, now, self.t0)
        yellow = bool(faults) and _on(self.p_yellow, now, self.t0)
        if level or faults:
            green = False
        elif warming:
            green = _on(self.p_green_warm, now, self.t0)
        else:
            green = True
        if self.muted:
            buzz = False
        self._set(self.red, 1, red)
        self._set(self.yellow, 2, yellow)
        self._set(self.green, 4, green)
        self._set(self.buzzer, 8, buzz)

    def test(self, now, ms=1000):
        self._testing = True
        self._test_until = ticks_add(now, ms)

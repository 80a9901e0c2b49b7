# Alarm logic: single- or two-level, with a confirmation window and hysteresis.
#
# Rules (numbers from shared/STANDARDS.md; every one is a constructor argument, set from
# /config.json):
# - A level rises when the filtered reading has stayed at or above its set point for the
#   confirmation window (default 15 s: GB 15322.2's new household edition says a spike shorter
#   than 15 s must not alarm, and the alarm must come within 60 s). At 1.6 x the set point that
#   is 15 s plus one filter sample, inside the 30 s response test.
# - Short dips below the set point (noise) up to `dip_ms` do not restart the window; a longer
#   dip does. So a single interfering spike shorter than the window never alarms.
# - A level clears when the reading has stayed below (set point - hysteresis) for `clear_ms`.
# - Alarms are evaluated during warm-up as at any other time (GB 15322.2-2019: never blank
#   alarms during preheat).
# - No valid reading (sensor open/short, ADC failure) changes nothing: a raised alarm stays
#   raised, and the fault logic reports the sensor.
#
# Integers only (centi-%LEL, ms ticks): `update()` allocates nothing.
from firmware.port import const, ticks_diff

NONE = const(0)
LOW = const(1)
HIGH = const(2)


class AlarmError(Exception):
    pass


class _Level:
    # one set point: confirmation and clearing timers
    def __init__(self, sp, hyst):
        self.sp = sp
        self.clear_below = sp - hyst if sp > hyst else 0
        self.on = False
        self.above = False  # inside a confirmation run
        self.since = 0  # tick the run started
        self.below_since = 0  # tick the reading last went below sp during a run
        self.dipping = False
        self.clearing = False
        self.clear_since = 0

    def step(self, lel, now, confirm_ms, dip_ms, clear_ms):
        if not self.on:
            if lel >= self.sp:
                if not self.above:
                    self.above = True
                    self.since = now
                self.dipping = False
                if ticks_diff(now, self.since) >= confirm_ms:
                    self.on = True
                    self.above = False
                    self.clearing = False
                    return True
            elif self.above:
                if not self.dipping:
                    self.dipping = True
                    self.below_since = now
                elif ticks_diff(now, self.below_since) > dip_ms:
                    self.above = False
                    self.dipping = False
            return False
        if lel < self.clear_below:
            if not self.clearing:
                self.clearing = True
                self.clear_since = now
            elif ticks_diff(now, self.clear_since) >= clear_ms:
                self.on = False
                self.clearing = False
                return True
        else:
            self.clearing = False
        return False


class Alarm:
    """The alarm state: `level` is NONE, LOW or HIGH.

    Constructor (centi-%LEL for set points and hysteresis, ms for times): `low`, `high`
    (0 = single-level), `hyst`, `confirm_ms`, `dip_ms`, `clear_ms`. `update(lel, now_ms)` takes
    one filtered reading (or -1 for none) and returns the level change: 0 for none, else
    the new level + 1 (so 1 means "cleared to NONE"). Use `changed_to(result)`.
    """

    def __init__(self, low=2500, high=0, hyst=500, confirm_ms=15000, dip_ms=2000,
                 clear_ms=10000):
        if not (100 <= low <= 2500):
            raise AlarmError("alarm.low: expected 1..25 %%LEL, got %s" % (low / 100,))
        if high and not (low < high <= 6000):
            raise AlarmError(
                "alarm.high: expected above alarm.low (%s) and at most 60 %%LEL, or 0, got %s"
                % (low / 100, high / 100))
        if not (0 <= hyst < low):
            raise AlarmError("alarm.hyst: expected 0 <= hyst < low, got %s" % (hyst / 100,))
        if confirm_ms < 0 or confirm_ms > 60000:
            raise AlarmError("alarm.confirm_s: expected 0..60 s, got %s" % (confirm_ms / 1000,))
        self.low = _Level(low, hyst)
        self.high = _Level(high, hyst) if high else None
        self.confirm_ms = confirm_ms
        self.dip_ms = dip_ms
        self.clear_ms = clear_ms
        self.level = NONE
        self.peak = 0  # highest reading while the current alarm is on

    def update(self, lel, now_ms):
        if lel < 0:
            return 0
        before = self.level
        self.low.step(lel, now_ms, self.confirm_ms, self.dip_ms, self.clear_ms)
        hi = self.high
        if hi is not None:
            hi.step(lel, now_ms, self.confirm_ms, self.dip_ms, self.clear_ms)
            if hi.on and not self.low.on:
                self.low.on = True  # a high alarm implies the low one
        if hi is not None and hi.on:
            level = HIGH
        elif self.low.on:
            level = LOW
        else:
            level = NONE
        if level != NONE and lel > self.peak:
            self.peak = lel
        if level == before:
            return 0
        self.level = level
        if level == NONE:
            self.peak = 0
        return level + 1

    def force(self, level):
        """Restore a level after a reboot (the valve and indications follow it at once)."""
        self.level = level
        self.low.on = level >= LOW
        if self.high is not None:
            self.high.on = level >= HIGH


def changed_to(result):
    """The new level from update()'s result (None when nothing changed)."""
    return None if result == 0 else result - 1

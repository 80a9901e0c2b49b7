# The sensor pipeline: ADC counts -> Rs/R0 -> %LEL, plus the sensor's own faults.
#
# Conversion. An MQ-type sensor's resistance Rs sits in series with the load resistor RL; the
# ADC reads the voltage across RL, so with v = counts / 65535, Rs/RL = (1 - v) / v. The zero
# calibration stores Rs/RL in clean air (`rs_air`); ratio = Rs/R0 = (Rs/RL) / rs_air. The gas
# curve is the datasheet's log-log line, Rs/R0 ~ ppm**b, taken relative to clean air:
#     %LEL = K * (ratio**n - 1),  n = 1/b,
# zero at clean air (ratio 1). K comes from the datasheet curve (the per-gas table below), or
# from a span calibration at a known %LEL (K = lel_span / (ratio_span**n - 1)).
#
# No allocation per sample: floats are heap objects on ESP32, so the curve is evaluated once
# into a table (`array('H')`, centi-%LEL for every 64 ADC counts) and each sample is an integer
# table look-up with linear interpolation. The table is rebuilt only when the calibration or
# the temperature/humidity compensation factor changes.
#
# Filtering: a median of the last three samples. It removes single-sample ADC glitches and
# delays a real step by one sample period (500 ms by default), far inside the 30 s response
# limit; everything slower (the 15 s confirmation) is the alarm logic's job, not the filter's.
from array import array

from firmware.port import const, ticks_diff

_TABLE_SHIFT = const(6)  # one table entry per 64 counts of a 16-bit reading
_TABLE_N = const(1025)  # 65536 >> 6, plus one for interpolation at full scale
_RING = const(64)  # raw history kept for health and self-test
_LEL_MAX = const(65535)  # centi-%LEL clamp (655.35 %LEL)

# Fault bits (docs/protocol.md "Numbers").
F_OPEN = const(1)
F_SHORT = const(2)
F_STUCK = const(4)
F_RANGE = const(8)
F_ADC = const(16)

class SensorError(ValueError):
    """A calibration or curve value the sensor cannot use; the message names it."""


def counts_to_rs(counts, full=65535.0):
    """Rs/RL for a 16-bit reading (float; calibration and tests only, never per sample).
    `full` is the reading with Rs = 0 (65535 * Vc * divider / Vref)."""
    v = counts / full
    if v <= 0.0:
        return 1e9
    if v >= 1.0:
        return 0.0
    return (1.0 - v) / v


def rs_to_counts(rs, full=65535.0):
    c = int(full / (1.0 + rs) + 0.5)
    return 65535 if c > 65535 else c


class Sensor:
    """One gas sensor: conversion table, median filter, raw history and sensor faults.

    Constructor: `rs_air` (Rs/RL in clean air, from the zero calibration), `k`, `n` (curve),
    and thresholds in counts/samples. `update(raw, now_ms)` takes one 16-bit ADC reading
    (-1 when the ADC failed) and returns the filtered reading in centi-%LEL, or -1 when the
    sensor gives no valid reading (open, short, ADC failure). Allocation-free per sample.
    """

    def __init__(self, rs_air, k, n, open_counts=300, short_counts=None, range_ratio=3.0,
                 stuck_samples=1200, confirm_samples=3, warmup_ms=180000, start_ms=0,
                 full=65535.0):
        if rs_air <= 0:
            raise SensorError("calibration zero rs_air: expected > 0, got %r" % (rs_air,))
        self.rs_air = rs_air
        self.full = full  # the reading for Rs = 0: 65535 * Vc * divider / Vref
        self.k = k
        self.n = n
        self.comp = 1.0
        self.open_counts = open_counts
        # shorted Rs puts the whole Vc across RL: the reading sits at `full` (or clips)
        if short_counts is None:
            short_counts = int(full * 0.985)
            if short_counts > 65200:
                short_counts = 65200
        self.short_counts = short_counts
        self.range_ratio = range_ratio
        self.stuck_samples = stuck_samples
        self.confirm_samples = confirm_samples
        self.warmup_ms = warmup_ms
        self.start_ms = start_ms
        self.table = array("H", bytes(2 * _TABLE_N))
        self._raw = array("H", bytes(2 * _RING))
        self._i = 0  # next slot in _raw
        self._n = 0  # samples seen (saturates)
        self._open = 0
        self._short = 0
        self._adc = 0
        self._same = 0
        self._range = 0
        self.faults = 0
        self.lel = 0  # last valid filtered reading, centi-%LEL
        self.raw = 0
        self.range_counts = 0
        self.baseline = 1000  # Rs/R0 in clean air, milli (slow average)
        self._build()

    # -- conversion table (allocates floats; only at calibration or compensation changes) ---
    def _build(self):
        t = self.table
        rs_air = self.rs_air * self.comp
        k, n = self.k, self.n
        for i in range(_TABLE_N):
            c = i << _TABLE_SHIFT
            if c >= 65535:
                c = 65535
            v = c / self.full
            if v <= 0.0 or v >= 1.0:
                lel = _LEL_MAX
            else:
                ratio = ((1.0 - v) / v) / rs_air
                if ratio <= 0.0:
                    lel = _LEL_MAX
                else:
                    x = k * (ratio**n - 1.0) * 100.0
                    lel = 0 if x < 0 else (_LEL_MAX if x > _LEL_MAX else int(x + 0.5))
            t[i] = lel
        # readings below these counts mean Rs/R0 above range_ratio: far under clean air
        self.range_counts = rs_to_counts(self.range_ratio * rs_air, self.full)
        self.air_counts = rs_to_counts(rs_air, self.full)
        fi = int(self.full)
        self._full_i = 65535 if fi > 65535 else fi

    def set_compensation(self, factor):
        """Temperature/humidity hook: Rs is divided by `factor` (1.0 = none). Rebuilds the
        table only when the factor moved by more than 1 %."""
        if factor <= 0:
            raise SensorError("compensation factor: expected > 0, got %r" % (factor,))
        if abs(factor - self.comp) > 0.01 * self.comp:
            self.comp = factor
            self._build()
            return True
        return False

    def recalibrate(self, rs_air=None, k=None):
        if rs_air is not None:
            self.rs_air = rs_air
        if k is not None:
            self.k = k
        self._build()

    # -- per sample: integers only -----------------------------------------------------------
    def convert(self, counts):
        """centi-%LEL for one 16-bit reading (integer interpolation in the table)."""
        i = counts >> _TABLE_SHIFT
        f = counts & 63
        a = self.table[i]
        b = self.table[i + 1] if i + 1 < _TABLE_N else a
        return a + (((b - a) * f) >> _TABLE_SHIFT)

    def warming(self, now_ms):
        return ticks_diff(now_ms, self.start_ms) < self.warmup_ms

    def update(self, raw, now_ms=0):
        faults = self.faults
        if raw < 0 or raw > 65535:
            self._adc += 1
            if self._adc >= self.confirm_samples:
                faults |= F_ADC
            self.faults = faults
            return -1 if faults & (F_ADC | F_OPEN | F_SHORT) else self.lel
        self._adc = 0
        faults &= ~F_ADC
        # stuck: the very same count for too long (a live ADC always shows some noise)
        if self._n and raw == self.raw:
            if self._same < 65535:
                self._same += 1
        else:
            self._same = 0
        self.raw = raw
        if self.stuck_samples and self._same >= self.stuck_samples:
            faults |= F_STUCK
        else:
            faults &= ~F_STUCK
        # open (no current through Rs: reading at the bottom) / short (at the top)
        if raw <= self.open_counts:
            self._open += 1
        else:
            self._open = 0
        if raw >= self.short_counts:
            self._short += 1
        else:
            self._short = 0
        if self._open >= self.confirm_samples:
            faults |= F_OPEN
        elif self._open == 0:
            faults &= ~F_OPEN
        if self._short >= self.confirm_samples:
            faults |= F_SHORT
        elif self._short == 0:
            faults &= ~F_SHORT
        # history ring + median of three
        r = self._raw
        i = self._i
        r[i] = raw
        self._i = (i + 1) % _RING
        if self._n < _RING:
            self._n += 1
        if self._n >= 3:
            a = r[i]
            b = r[(i - 1) % _RING]
            c = r[(i - 2) % _RING]
            if a > b:
                a, b = b, a
            if b > c:
                b = c
            med = a if a > b else b
        else:
            med = raw
        # out of range: far above clean-air resistance (not open yet), or beyond the curve
        lel = self.convert(med)
        if (self.open_counts < med < self.range_counts) or lel >= _LEL_MAX:
            self._range += 1
        else:
            self._range = 0
        if self._range >= self.confirm_samples:
            faults |= F_RANGE
        elif self._range == 0:
            faults &= ~F_RANGE
        self.faults = faults
        if faults & (F_OPEN | F_SHORT):
            return -1
        self.lel = lel
        # baseline: Rs/R0 in clean air, milli, a slow average while the reading is near zero
        if lel < 200 and med > 0:
            # Rs/R0 = (full - med) * air / ((full - air) * med), in 10-bit parts so that
            # every product stays a small int (< 2**30): no allocation
            air = self.air_counts
            full = self._full_i
            num = ((full - med) >> 6) * (air >> 6) if med < full else 0
            den = ((full - air) >> 6) * (med >> 6)
            if den > 0:
                ratio_milli = (num * 1000) // den
                if ratio_milli > 60000:
                    ratio_milli = 60000
                self.baseline += (ratio_milli - self.baseline) >> 6
        return lel

    def history(self):
        """The raw ring, oldest first (allocates: for health and self-test, not per sample)."""
        out = []
        n = self._n
        for j in range(n):
            out.append(self._raw[(self._i - n + j) % _RING])
        return out


def compensation_factor(temp_c, rh):
    """Default T/RH model for MQ-type sensors: Rs relative to 20 degC / 65 %RH.

    Read off the MQ-4/MQ-5 datasheet drift charts (roughly -0.8 %/degC and -0.3 %/%RH around
    the reference point); STANDARDS.md rates the drift "likely ~ +/-25 %". Returns the factor
    Sensor.set_compensation() takes, clamped to 0.6..1.4.
    """
    f = 1.0 - 0.008 * (temp_c - 20.0) - 0.003 * (rh - 65.0)
    if f < 0.6:
        f = 0.6
    if f > 1.4:
        f = 1.4
    return f

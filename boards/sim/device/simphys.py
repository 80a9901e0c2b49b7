# Physics of the virtual board: the MQ gas sensor and the shutoff valve.
#
# Common subset of MicroPython and CPython: the same file runs inside the virtual board (behind
# the simulated `machine`) and on the host launcher (which keeps the valve's state while the
# board is powered off). Times are "world milliseconds" (see simworld.py).
#
# Sensor model (what the firmware sees through the ADC):
#   Rs/R0 = a * ppm**b per gas (a power law fitted to two points read off each datasheet's
#   log-log sensitivity chart, Hanwei/Winsen MQ-2/4/5/6; approximate, good to ~20 %),
#   several gases add their conductances, clean air gives the chart's "air" ratio;
#   Rs = ratio * R0 * drift * climate * warm-up;
#   module output Vout = Vc * RL / (RL + Rs), scaled by the board's divider onto the ADC pin.
#   Climate: Rs moves about -0.6 %/°C from 20 °C and -0.25 %/%RH from 65 %RH (about ±25 % over
#   the datasheet's range, as STANDARDS.md says). Warm-up: Rs starts at 40 % of its settled
#   value (reads high) and settles exponentially over `warmup_s`. Drift: R0 rises 2 % per
#   1000 powered hours by default. Noise: gaussian-like, 0.3 % of Vout by default.
#   Wiring faults (`MQSensor.fault`): "open" (the sensing element or its lead is broken: Rs is
#   infinite, RL pulls the output to 0 V) and "short" (Rs = 0: the whole Vc is across RL, the
#   pin reads Vc times the divider, the firmware's full scale).
# Valve model: see class Valve.

# Lower explosive limits, % by volume (STANDARDS.md: methane 5.0, propane 2.1, butane 1.8;
# bottled LPG taken as propane; ethanol 3.3). Cooking fumes have no LEL: give them in ppm.
LEL_PCT_VOL = {"methane": 5.0, "lpg": 2.1, "propane": 2.1, "butane": 1.8, "alcohol": 3.3}
GASES = ("methane", "lpg", "propane", "butane", "alcohol", "cooking")
SENSOR_FAULTS = ("open", "short")

# kind -> {"air": Rs/R0 in clean air, gas: ((ppm1, ratio1), (ppm2, ratio2))}
_CHARTS = {
    "mq4": {"air": 4.4, "methane": ((200, 1.75), (10000, 0.43)), "lpg": ((200, 2.6), (10000, 0.8)),
            "propane": ((200, 2.6), (10000, 0.8)), "butane": ((200, 2.7), (10000, 0.85)),
            "alcohol": ((200, 4.0), (10000, 2.5)), "cooking": ((200, 3.9), (10000, 2.7))},
    "mq5": {"air": 6.5, "lpg": ((200, 0.38), (10000, 0.1)), "propane": ((200, 0.38), (10000, 0.1)),
            "butane": ((200, 0.36), (10000, 0.09)), "methane": ((200, 0.65), (10000, 0.16)),
            "alcohol": ((200, 2.8), (10000, 1.0)), "cooking": ((200, 3.5), (10000, 1.8))},
    "mq2": {"air": 9.8, "lpg": ((200, 1.6), (10000, 0.26)), "propane": ((200, 1.7), (10000, 0.28)),
            "butane": ((200, 1.6), (10000, 0.26)), "methane": ((200, 3.0), (10000, 0.7)),
            "alcohol": ((200, 2.8), (10000, 0.5)), "cooking": ((200, 3.4), (10000, 0.6))},
    "mq6": {"air": 10.0, "lpg": ((200, 2.0), (10000, 0.38)), "propane": ((200, 2.1), (10000, 0.4)),
            "butane": ((200, 1.9), (10000, 0.36)), "methane": ((200, 8.0), (10000, 1.7)),
            "alcohol": ((200, 8.5), (10000, 4.0)), "cooking": ((200, 9.0), (10000, 5.0))},
}


def _exp(x):
    # math.exp exists on both interpreters; imported lazily to keep this module light.
    import math
    return math.exp(x)


def _fit(p1, p2):
    import math
    b = math.log(p2[1] / p1[1]) / math.log(p2[0] / p1[0])
    a = p1[1] / (p1[0] ** b)
    return a, b


def to_ppm(gas, value, unit):
    """Concentration in ppm from %LEL (unit 'lel') or ppm (unit 'ppm'); ValueError otherwise."""
    if gas not in GASES:
        raise ValueError("gas %r: expected one of %s" % (gas, ", ".join(GASES)))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("gas %s: concentration %r is not a number" % (gas, value))
    if value < 0:
        raise ValueError("gas %s: concentration %r is negative" % (gas, value))
    if unit == "ppm":
        return float(value)
    if unit != "lel":
        raise ValueError("unit %r: expected 'lel' or 'ppm'" % (unit,))
    if gas not in LEL_PCT_VOL:
        raise ValueError("gas %s has no lower explosive limit; give it in ppm (unit='ppm')" % gas)
    return value * LEL_PCT_VOL[gas] * 100.0  # 1 %LEL = LEL%vol * 10000 ppm / 100


class Rng:
    """xorshift32 with a Box-Muller-free normal approximation (sum of 4 uniforms)."""

    def __init__(self, seed=0x2545F491):
        self.s = (seed & 0xFFFFFFFF) or 1

    def u(self):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.s = s
        return s / 4294967296.0

    def normal(self):
        return (self.u() + self.u() + self.u() + self.u() - 2.0) * 1.7320508


class MQSensor:
    """An MQ-type sensor on a load resistor and a divider; `pin_v(ppm_by_gas, t)` is the ADC input."""

    def __init__(self, kind, rl_ohm, r0_ohm, vc_v, adc_divider, warmup_s):
        if kind not in _CHARTS:
            raise ValueError("sensor kind %r: expected one of %s" % (kind, ", ".join(sorted(_CHARTS))))
        chart = _CHARTS[kind]
        self.kind = kind
        self.air = chart["air"]
        self.curves = {}
        for gas in GASES:
            self.curves[gas] = _fit(chart[gas][0], chart[gas][1])
        self.rl = float(rl_ohm)
        self.r0 = float(r0_ohm)
        self.vc = float(vc_v)
        self.divider = float(adc_divider)
        self.warmup_s = warmup_s
        self.noise = 0.003          # relative sigma of Vout
        self.drift_per_1000h = 0.02  # R0 change per 1000 powered hours
        self.age_h = 0.0             # powered hours before this power-on
        self.heater_on_at = 0        # world ms of the last power-on
        self.temp_c = 20.0
        self.rh_pct = 65.0
        self.fault = None            # None (wired), "open" or "short": see set_fault
        self.rng = Rng()

    def set_fault(self, kind):
        """Break ("open") or short ("short") the sensing element; None wires it normally again."""
        if kind is not None and kind not in SENSOR_FAULTS:
            raise ValueError("sensor fault %r: expected 'open', 'short' or None" % (kind,))
        self.fault = kind

    def ratio(self, ppm_by_gas):
        """Rs/R0 for a mixture, before climate, drift and warm-up."""
        g = 1.0 / self.air
        for gas in ppm_by_gas:
            ppm = ppm_by_gas[gas]
            if ppm <= 0:
                continue
            a, b = self.curves[gas]
            r = a * (ppm ** b)
            if r < self.air:
                g += 1.0 / r - 1.0 / self.air
        return 1.0 / g

    def factor(self, t_ms):
        """Multiplier on Rs from climate, drift and warm-up at world time t_ms."""
        on_s = max(0, t_ms - self.heater_on_at) / 1000.0
        hours = self.age_h + on_s / 3600.0
        f = (1.0 - 0.006 * (self.temp_c - 20.0)) * (1.0 - 0.0025 * (self.rh_pct - 65.0))
        f *= 1.0 + self.drift_per_1000h * hours / 1000.0
        if self.warmup_s > 0 and on_s < self.warmup_s * 3:
            f *= 1.0 - 0.6 * _exp(-4.0 * on_s / self.warmup_s)
        return f

    def rs(self, ppm_by_gas, t_ms):
        return self.ratio(ppm_by_gas) * self.r0 * self.factor(t_ms)

    def pin_v(self, ppm_by_gas, t_ms, noisy=True):
        """Voltage at the ADC pin (volts)."""
        if self.fault == "open":
            return 0.0  # no current through RL: the output sits at ground
        rs = 0.0 if self.fault == "short" else self.rs(ppm_by_gas, t_ms)
        v = self.vc * self.rl / (self.rl + rs)
        if noisy and self.noise:
            v *= 1.0 + self.noise * self.rng.normal()
        v *= self.divider
        if v < 0:
            v = 0.0
        return v


# Valve states (protocol: 0 open, 1 closed, 2 closing, 3 unknown)
OPEN = "open"
CLOSING = "closing"
CLOSED = "closed"


class Valve:
    """A shutoff valve with a feedback switch.

    pulse (electromagnetic, pulse-latched): a drive pulse of at least half `pulse_ms` releases the
    latch and the valve closes in `closing_ms`; further pulses change nothing; only a manual reset
    (`manual_reopen`) opens it, and not while the coil is energised. With `close_on_power_loss`,
    stored energy fires the pulse when power fails.
    hold (normally closed, energised to stay open): de-energising closes it; a manual reset opens
    it only while energised.
    The feedback switch reads `feedback_closed_level` once fully closed, the other level otherwise.
    """

    def __init__(self, kind, normally, close_on_power_loss, pulse_ms, closing_ms, feedback_closed_level=0):
        self.kind = kind
        self.normally = normally
        self.close_on_power_loss = close_on_power_loss
        self.pulse_ms = pulse_ms or 0
        self.closing_ms = closing_ms
        self.feedback_closed_level = feedback_closed_level
        self.state = OPEN if kind == "pulse" else CLOSED
        self.closing_since = 0
        self.drive = 0
        self.drive_since = 0
        self.pulses = 0          # close pulses seen (including ones that changed nothing)
        self.closes = 0          # times the valve actually started closing

    def _start_closing(self, t):
        if self.state == OPEN:
            self.state = CLOSING
            self.closing_since = t
            self.closes += 1
            return True
        return False

    def set_drive(self, level, t):
        """The firmware drives the coil; returns True when the valve's state changed."""
        level = 1 if level else 0
        if level == self.drive:
            return False
        if self.kind == "pulse" and not level and t - self.drive_since >= self.pulse_ms // 2:
            # a long enough pulse that ended between two updates still released the latch
            self.drive = 0
            return self._start_closing(self.drive_since + self.pulse_ms // 2)
        self.drive = level
        self.drive_since = t
        if self.kind == "pulse":
            if level:
                self.pulses += 1
            return False
        if not level:  # hold valve de-energised
            return self._start_closing(t)
        return False

    def update(self, t):
        """Advance to world time t; returns True when the state changed."""
        changed = False
        if self.kind == "pulse" and self.drive and t - self.drive_since >= self.pulse_ms // 2:
            changed = self._start_closing(t)
        if self.state == CLOSING and t - self.closing_since >= self.closing_ms:
            self.state = CLOSED
            changed = True
        return changed

    def feedback(self):
        if self.state == CLOSED:
            return self.feedback_closed_level
        return 1 - self.feedback_closed_level

    def power_loss(self, t):
        """Power fails: what the valve does by itself."""
        self.drive = 0
        if self.kind == "hold" or self.close_on_power_loss:
            return self._start_closing(t)
        return False

    def manual_reopen(self, t):
        """Someone on site resets the valve by hand. ValueError says why it cannot open."""
        self.update(t)
        if self.state == OPEN:
            raise ValueError("the valve is already open")
        if self.state == CLOSING:
            raise ValueError("the valve is still closing; wait %d ms" % (self.closing_ms - (t - self.closing_since)))
        if self.kind == "pulse" and self.drive:
            raise ValueError("the release coil is energised; the latch will not hold")
        if self.kind == "hold" and not self.drive:
            raise ValueError("a hold valve opens only while energised (board powered and driving it)")
        self.state = OPEN
        return True

    def to_dict(self):
        return {"state": self.state, "closing_since": self.closing_since, "pulses": self.pulses,
                "closes": self.closes, "drive": self.drive, "drive_since": self.drive_since}

    def load(self, d):
        self.state = d.get("state", self.state)
        self.closing_since = d.get("closing_since", 0)
        self.pulses = d.get("pulses", 0)
        self.closes = d.get("closes", 0)
        self.drive = d.get("drive", 0)
        self.drive_since = d.get("drive_since", 0)

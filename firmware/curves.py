# Gas curves of MQ-type sensors, used when the app starts or is calibrated (not per sample): the
# app loads this module, builds the sensor's conversion table (firmware/sensor.py) from it, and
# then drops it from memory again.
from firmware.sensor import SensorError

# Lower explosive limits, %vol (shared/STANDARDS.md: methane 5.0, propane 2.1, butane 1.8;
# bottled LPG taken as propane). Overridable per board (`sensor.curve.lel_vol`).
LEL_VOL = {"methane": 5.0, "lpg": 2.1, "propane": 2.1, "butane": 1.8}

# Sensitivity charts: sensor kind -> (Rs/R0 in clean air, {gas: ((ppm1, Rs/R0), (ppm2, Rs/R0))}),
# two points read off each Hanwei/Winsen datasheet's log-log chart (MQ-2/4/5/6); the line
# through them is the curve Rs/R0 = a * ppm**b. Approximate (~20 %): the span calibration
# corrects each unit. A board may give its own `sensor.curve` (`a`, `b`, `air`).
CHARTS = {
    "mq4": (4.4, {"methane": ((200, 1.75), (10000, 0.43)), "lpg": ((200, 2.6), (10000, 0.8)),
                  "propane": ((200, 2.6), (10000, 0.8)), "butane": ((200, 2.7), (10000, 0.85))}),
    "mq5": (6.5, {"lpg": ((200, 0.38), (10000, 0.1)), "propane": ((200, 0.38), (10000, 0.1)),
                  "butane": ((200, 0.36), (10000, 0.09)), "methane": ((200, 0.65), (10000, 0.16))}),
    "mq2": (9.8, {"lpg": ((200, 1.6), (10000, 0.26)), "propane": ((200, 1.7), (10000, 0.28)),
                  "butane": ((200, 1.6), (10000, 0.26)), "methane": ((200, 3.0), (10000, 0.7))}),
    "mq6": (10.0, {"lpg": ((200, 2.0), (10000, 0.38)), "propane": ((200, 2.1), (10000, 0.4)),
                   "butane": ((200, 1.9), (10000, 0.36)), "methane": ((200, 8.0), (10000, 1.7))}),
}
GASES = LEL_VOL


def chart(kind, gas):
    """(air, a, b) for a sensor kind and gas from CHARTS."""
    import math

    if kind not in CHARTS:
        raise SensorError("sensor.kind: expected one of %s, got %r"
                          % (", ".join(sorted(CHARTS)), kind))
    air, curves = CHARTS[kind]
    if gas not in curves:
        raise SensorError("sensor.gas: expected one of %s, got %r"
                          % (", ".join(sorted(curves)), gas))
    (p1, r1), (p2, r2) = curves[gas]
    b = math.log(r2 / r1) / math.log(p2 / p1)
    a = r1 / (p1**b)
    return air, a, b


def curve_k(gas, kind=None, lel_vol=None, a=None, b=None, air=None):
    """(K, n) of %LEL = K * (ratio**n - 1), ratio = Rs / Rs(clean air).

    With Rs/R0 = a * ppm**b and Rs(clean air)/R0 = air: ppm = (ratio * air / a)**(1/b), so
    K = (air / a)**n / (lel_vol * 100) with n = 1/b. `kind` defaults to the usual sensor for
    the gas (MQ-4 for methane, MQ-5 otherwise)."""
    if gas not in LEL_VOL:
        raise SensorError("sensor.gas: expected one of %s, got %r" % (", ".join(sorted(LEL_VOL)), gas))
    if kind is None:
        kind = "mq4" if gas == "methane" else "mq5"
    c_air, c_a, c_b = chart(kind, gas)
    air = c_air if air is None else air
    a = c_a if a is None else a
    b = c_b if b is None else b
    lel_vol = LEL_VOL[gas] if lel_vol is None else lel_vol
    n = 1.0 / b
    k = ((air / a) ** n) / (lel_vol * 100.0)
    return k, n


def air_ratio(kind):
    """Rs/R0 in clean air for a sensor kind (the chart's "air" line)."""
    if kind not in CHARTS:
        raise SensorError("sensor.kind: expected one of %s, got %r"
                          % (", ".join(sorted(CHARTS)), kind))
    return CHARTS[kind][0]


def span_k(n, lel_span, ratio_span):
    """K from a span calibration: %LEL `lel_span` read as Rs/R0 `ratio_span` (< 1)."""
    if not (0.0 < ratio_span < 1.0):
        raise SensorError("calibration span ratio: expected 0 < Rs/R0 < 1, got %r" % (ratio_span,))
    return lel_span / (ratio_span**n - 1.0)



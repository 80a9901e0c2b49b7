# runs-on: micropython cpython
"""ADC counts -> %LEL through the calibration, the median filter, and the sensor's faults."""
from firmware import curves, sensor
from firmware.port import MICROPYTHON, heap_lock, heap_unlock
from utils.dual import raises


def methane(rs_air=1.0, **kw):
    k, n = curves.curve_k("methane")
    return sensor.Sensor(rs_air, k, n, **kw)


def counts_at(s, lel_pct):
    """ADC counts for a %LEL by inverting the curve (float maths, tests only)."""
    ratio = (lel_pct / s.k + 1.0) ** (1.0 / s.n)
    return sensor.rs_to_counts(ratio * s.rs_air)


def test_convert__clean_air_is_zero_and_the_curve_is_followed_within_1_pct_lel():
    s = methane()
    assert s.convert(s.air_counts) == 0
    for pct in (5, 10, 25, 40, 50, 80):
        got = s.convert(counts_at(s, pct)) / 100
        assert abs(got - pct) < 1.0, (pct, got)


def test_span_calibration__moves_the_curve_through_the_span_point():
    s = methane()
    k, n = curves.curve_k("methane")
    # at 50 %LEL this sensor reads Rs/R0 0.2 (a less sensitive unit than the datasheet's)
    s.recalibrate(k=curves.span_k(n, 50.0, 0.2))
    got = s.convert(sensor.rs_to_counts(0.2 * s.rs_air)) / 100
    assert abs(got - 50.0) < 0.5


def test_update__median_filter_drops_a_one_sample_glitch_and_follows_a_step_in_one_sample():
    s = methane()
    air = s.air_counts
    for _ in range(5):
        assert s.update(air) == 0
    assert s.update(counts_at(s, 60)) == 0  # one glitch sample
    assert s.update(air) == 0
    leak = counts_at(s, 40)
    s.update(leak)
    assert s.update(leak) > 3900  # a real step shows after the second sample


def test_faults__open_short_adc_failure_stuck_and_out_of_range():
    s = methane(stuck_samples=10)
    for _ in range(3):
        r = s.update(100)
    assert s.faults & sensor.F_OPEN and r == -1
    s.update(s.air_counts)
    assert not s.faults & sensor.F_OPEN
    for _ in range(3):
        r = s.update(65500)
    assert s.faults & sensor.F_SHORT and r == -1
    s.update(s.air_counts + 1)
    for _ in range(3):
        r = s.update(-1)
    assert s.faults & sensor.F_ADC and r == -1
    for i in range(12):
        s.update(s.air_counts + 7)
    assert s.faults & sensor.F_STUCK
    s.update(s.air_counts + 9)
    assert not s.faults & sensor.F_STUCK
    # Rs far above clean air (ratio > 3): drifted or broken, not yet open
    far = sensor.rs_to_counts(5.0 * s.rs_air)
    for i in range(4):
        s.update(far + (i & 1))
    assert s.faults & sensor.F_RANGE


def test_compensation__rebuilds_only_on_a_real_change():
    s = methane()
    c = counts_at(s, 25)
    before = s.convert(c)
    assert s.set_compensation(1.005) is False
    assert s.set_compensation(sensor.compensation_factor(35.0, 85.0)) is True
    assert s.convert(c) != before
    assert sensor.compensation_factor(20.0, 65.0) == 1.0


def test_update__is_allocation_free_per_sample():
    if not MICROPYTHON:
        return
    s = methane()
    s.update(s.air_counts)
    leak = counts_at(s, 40)
    heap_lock()
    try:
        for i in range(50):
            s.update(leak + (i & 3))
            s.update(-1)
    finally:
        heap_unlock()
    assert s.lel > 3900


def test_bad_calibration__named_in_the_error():
    e = raises(sensor.SensorError, methane, rs_air=0)
    assert str(e) == "calibration zero rs_air: expected > 0, got 0"
    e = raises(sensor.SensorError, curves.curve_k, "hydrogen")
    assert str(e) == "sensor.gas: expected one of butane, lpg, methane, propane, got 'hydrogen'"
    e = raises(sensor.SensorError, curves.curve_k, "methane", kind="mq9")
    assert str(e) == "sensor.kind: expected one of mq2, mq4, mq5, mq6, got 'mq9'"

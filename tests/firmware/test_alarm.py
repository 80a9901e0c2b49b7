# runs-on: micropython cpython
"""Alarm timing on an injected clock: confirmation window, 1.6x response, spikes, hysteresis."""
from firmware import alarm
from firmware.port import MICROPYTHON, heap_lock, heap_unlock
from utils.dual import raises

STEP = 500  # sample period, ms


def run(a, lel, ms, t0):
    """Feed `lel` for `ms`; return (end time, time of the first level change or None)."""
    t = t0
    first = None
    while t < t0 + ms:
        r = a.update(lel, t)
        if r and first is None:
            first = t
        t += STEP
    return t, first


def test_alarm__at_1_6x_the_set_point_fires_within_30_s_and_not_before_15_s():
    a = alarm.Alarm(low=2500)
    t, first = run(a, 4000, 40000, 1000)
    assert a.level == alarm.LOW
    assert 15000 <= first - 1000 <= 30000


def test_alarm__a_spike_shorter_than_the_window_never_alarms():
    a = alarm.Alarm(low=2500)
    t, _ = run(a, 0, 5000, 0)
    t, first = run(a, 9000, 14500, t)  # 14.5 s at 90 %LEL: interference, not a leak
    t, _ = run(a, 0, 30000, t)
    assert first is None and a.level == alarm.NONE


def test_alarm__spikes_with_long_gaps_do_not_add_up():
    a = alarm.Alarm(low=2500)
    t = 0
    for _ in range(5):
        t, first = run(a, 5000, 10000, t)
        assert first is None
        t, _ = run(a, 0, 5000, t)
    assert a.level == alarm.NONE


def test_alarm__a_short_noise_dip_does_not_restart_the_window():
    a = alarm.Alarm(low=2500, confirm_ms=15000, dip_ms=2000)
    t, _ = run(a, 3000, 10000, 0)
    t, _ = run(a, 2400, 1000, t)  # one second just under the set point
    t, first = run(a, 3000, 20000, t)
    assert first is not None and first <= 16000


def test_alarm__two_levels_rise_and_clear_with_hysteresis():
    a = alarm.Alarm(low=1000, high=5000, hyst=300, clear_ms=10000)
    t, first = run(a, 2000, 20000, 0)
    assert a.level == alarm.LOW
    t, first = run(a, 6000, 20000, t)
    assert a.level == alarm.HIGH
    t, _ = run(a, 4800, 20000, t)  # under the high set point but inside its hysteresis
    assert a.level == alarm.HIGH
    t, first = run(a, 3000, 20000, t)
    assert a.level == alarm.LOW
    t, _ = run(a, 800, 20000, t)  # inside the low hysteresis band: still on
    assert a.level == alarm.LOW
    t, first = run(a, 500, 9000, t)
    assert a.level == alarm.LOW  # clearing needs clear_ms below the band
    t, first = run(a, 500, 3000, t)
    assert a.level == alarm.NONE


def test_alarm__no_reading_keeps_a_raised_alarm():
    a = alarm.Alarm(low=2500)
    t, _ = run(a, 4000, 20000, 0)
    assert a.level == alarm.LOW
    t, _ = run(a, -1, 60000, t)
    assert a.level == alarm.LOW


def test_alarm__update_is_allocation_free():
    if not MICROPYTHON:
        return
    a = alarm.Alarm(low=2500, high=5000)
    a.update(0, 0)
    heap_lock()
    try:
        for i in range(100):
            a.update(6000, i * 500)
    finally:
        heap_unlock()
    assert a.level == alarm.HIGH


def test_alarm__bad_set_points_are_refused_with_the_field_named():
    e = raises(alarm.AlarmError, alarm.Alarm, low=3000)
    assert str(e) == "alarm.low: expected 1..25 %LEL, got 30.0"
    e = raises(alarm.AlarmError, alarm.Alarm, low=2500, high=2000)
    assert "alarm.high: expected above alarm.low (25.0)" in str(e)

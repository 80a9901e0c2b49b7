# runs-on: micropython cpython
"""The linked shutoff: one ISR-safe handler, never an open command, state across reboot."""
from firmware import valve
from firmware.port import MICROPYTHON, heap_lock, heap_unlock
from fw_fakes import cleanup, FakeFlag, FakePin, tmpdir
from utils.dual import SkipTest

teardown_function = cleanup


def make(tmp=None, kind="pulse", feedback=True, events=None):
    drive = FakePin(0)
    fb = FakePin(1) if feedback else None  # 1 = open (feedback_closed_level 0)
    flag = FakeFlag()
    ev = events if events is not None else []
    v = valve.Valve(drive, fb, flag, kind=kind, pulse_ms=200, closing_ms=1500,
                    feedback_closed_level=0, path=tmp,
                    on_event=lambda k, f: ev.append((k, f)))
    return v, drive, fb, flag, ev


def _tmpdir(name):
    return tmpdir("valve") + "/" + name


def test_trip__is_allocation_free_under_heap_lock():
    if not MICROPYTHON:
        raise SkipTest("heap_lock exists on MicroPython only")
    v, drive, fb, flag, ev = make()
    cmp_pin = FakePin(1)
    v.attach(comparator=cmp_pin)
    v.trip(valve.SRC_ALARM)  # warm up: the first call may intern nothing, but be fair
    heap_lock()
    try:
        v.trip(valve.SRC_ALARM)
        cmp_pin.handler(cmp_pin)  # the comparator IRQ path: the handler with the Pin
        v.service(10 ** 6)
    finally:
        heap_unlock()
    assert flag.count == 3
    assert v.last_trip()[1] == "comparator"


def test_trip__drives_the_valve_at_once_and_sets_the_flag():
    v, drive, fb, flag, ev = make()
    v.trip(valve.SRC_ALARM)
    assert drive.level == 1  # close pulse on
    assert flag.count == 1
    tick, src, count = v.last_trip()
    assert (src, count) == ("alarm", 1)
    v.service(tick + 199)
    assert drive.level == 1
    v.service(tick + 200)
    assert drive.level == 0  # pulse ended


def test_comparator_irq__ignores_an_edge_back_to_normal():
    v, drive, fb, flag, ev = make()
    cmp_pin = FakePin(0)
    v.attach(comparator=cmp_pin)
    cmp_pin.fire()
    assert flag.count == 0 and drive.level == 0
    cmp_pin.level = 1
    cmp_pin.fire()
    assert flag.count == 1 and drive.level == 1


def test_valve__closes_confirms_by_feedback_and_reports_once():
    v, drive, fb, flag, ev = make()
    v.trip(valve.SRC_ALARM)
    t0 = v.last_trip()[0]
    v.poll(t0 + 10)
    assert v.state == valve.CLOSING
    assert ev == [("valve_closed", {"src": "alarm"})]
    fb.level = 0  # the valve reached closed
    v.poll(t0 + 2200)
    assert v.state == valve.CLOSED and v.fault == 0
    v.trip(valve.SRC_COMPARATOR)  # a second trip while closed: no second event
    v.poll(t0 + 2300)
    assert len(ev) == 1


def test_valve__feedback_that_stays_open_is_a_fault_after_one_retry():
    v, drive, fb, flag, ev = make()
    v.trip(valve.SRC_ALARM)
    t0 = v.last_trip()[0]
    v.poll(t0 + 2200)  # pulse + closing + settle: retry pulse
    assert v.last_trip()[2] == 2 and v.fault == 0
    v.poll(t0 + 4400)
    assert v.fault == valve.F_FEEDBACK
    assert v.state == valve.CLOSING


def test_valve__never_drives_open_and_a_reopen_by_hand_is_reported():
    v, drive, fb, flag, ev = make()
    v.trip(valve.SRC_ALARM)
    t0 = v.last_trip()[0]
    fb.level = 0
    v.poll(t0 + 2200)
    v.service(t0 + 5000)
    # every level the firmware wrote to a pulse valve's drive: idle (0) and close pulses (1);
    # a pulse valve has no "open" level at all
    assert set(drive.written()) <= {0, 1}
    assert drive.written().count(1) == 1
    fb.level = 1  # a person reopened it on site
    v.poll(t0 + 6000)
    v.poll(t0 + 7100)
    assert v.state == valve.OPEN
    assert ev[-1] == ("valve_reopened", {})


def test_hold_valve__closing_drops_the_hold_and_only_the_button_restores_it():
    v, drive, fb, flag, ev = make(kind="hold")
    assert drive.level == 1  # holding open in normal operation
    v.trip(valve.SRC_ALARM)
    assert drive.level == 0
    v.poll(v.last_trip()[0] + 5000)
    assert drive.level == 0
    assert v.manual_reset(alarm_level=1) is False and drive.level == 0
    assert v.manual_reset(alarm_level=0) is True and drive.level == 1


def test_state__survives_reboot_and_the_valve_stays_closed():
    path = _tmpdir("valve.json")
    v, drive, fb, flag, ev = make(tmp=path)
    v.trip(valve.SRC_ALARM)
    v.poll(v.last_trip()[0] + 1)
    # reboot: a new Valve reads the file
    v2, drive2, fb2, flag2, ev2 = make(tmp=path)
    fb2.level = 0
    assert v2.state == valve.CLOSED
    assert v2.src == valve.SRC_ALARM
    assert drive2.written() == [0]
    v2h, drive3, fb3, flag3, ev3 = make(tmp=path, kind="hold")
    assert drive3.level == 0  # a hold valve recorded closed keeps its hold off after boot


def test_hold_valve__found_closed_at_boot_is_not_re_energised_by_the_boot():
    drive = FakePin(0)
    fb = FakePin(0)  # feedback reads closed: the reset dropped the hold
    v = valve.Valve(drive, fb, FakeFlag(), kind="hold", feedback_closed_level=0)
    assert v.state == valve.CLOSED and drive.level == 0 and drive.written() == [0]
    assert v.manual_reset(alarm_level=0) is True and drive.level == 1

# runs-on: micropython cpython
"""Our enumerations (docs/protocol.md "Numbers") and the registry ids the heartbeat uses."""
from protocol import codes, ipso, messages


def test_fault_bits__are_distinct_powers_of_two_covering_fault_all():
    bits = [b for b, _ in codes.FAULT_NAMES]
    assert bits == [1 << i for i in range(12)]
    total = 0
    for b in bits:
        total |= b
    assert total == codes.FAULT_ALL == 4095
    assert codes.fault_names(codes.FAULT_ADC | codes.FAULT_MAINS_LOST) == ["adc", "mains_lost"]


def test_safety_kinds__are_event_kinds():
    for k in codes.SAFETY_KINDS:
        assert k in codes.EVENT_KINDS
    assert "open" not in codes.COMMAND_OPS and "open_valve" not in codes.COMMAND_OPS


def test_reset_causes__numbered_as_documented():
    assert (codes.RESET_POWER_ON, codes.RESET_WATCHDOG, codes.RESET_BROWN_OUT) == (1, 3, 6)
    assert codes.RESET_CAUSES == (0, 1, 2, 3, 4, 5, 6)


def test_heartbeat_names__come_from_the_ipso_table():
    names = dict(messages.HEARTBEAT_RECORDS)
    assert names["battery_pct"] == ipso.path(ipso.OBJ_BATTERY, 0, ipso.RES_BATTERY_LEVEL)
    assert names["lel"] == ipso.path(ipso.OBJ_CONCENTRATION, 0, ipso.RES_SENSOR_VALUE)
    assert names["valve_open"] == ipso.path(ipso.OBJ_ON_OFF_SWITCH, 0, ipso.RES_DIGITAL_INPUT_STATE)
    assert names["buzzer"] == ipso.path(ipso.OBJ_BUZZER, 0, ipso.RES_ON_OFF)
    assert names["fw"] == ipso.path(ipso.OBJ_DEVICE, 0, ipso.RES_DEVICE_FIRMWARE_VERSION)
    assert names["warmup"] == ipso.path(ipso.OBJ_GASGUARD, 0, ipso.GG_WARMUP)
    assert 26241 <= ipso.OBJ_GASGUARD <= 32768

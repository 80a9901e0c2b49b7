# gasguard's own enumerations, shared by the firmware and the fleet (docs/protocol.md "Numbers").
# These are ours, not from a registry: the numbers are part of the wire contract, so change
# them only by adding. Tuples list the values messages may carry, in a fixed order.
#
# This module holds what protocol/messages.py checks messages against (the device loads it).
# A name for each value (codes.ALARM, codes.FAULT_ADC, codes.RESET_WATCHDOG, ...), the fault
# names and SAFETY_KINDS are in protocol/codes_more.py and read through this module as well
# (`codes.ALARM`, `from protocol.codes import ALARM`): a module __getattr__ loads it on first
# use, so a board, which never asks, keeps none of those names in RAM (docs/firmware.md s10).

# Event kinds (event.k); their names: codes_more.BOOT ... CALIBRATION, in this order
EVENT_KINDS = (
    "boot",
    "alarm",
    "alarm_clear",
    "valve_closed",
    "valve_reopened",
    "fault",
    "fault_clear",
    "power_lost",
    "power_back",
    "selftest",
    "calibration",
)

# Why the valve closed (event.src)
VALVE_SOURCES = ("alarm", "comparator", "command", "power", "selftest")

# Gases (registration.gas)
GASES = ("methane", "lpg", "propane", "butane")

# Commands (command.op): never "open" -- a linked shutoff is reopened by hand, on site.
# Names: OP_CLOSE_VALVE, OP_SELFTEST, OP_REBOOT.
COMMAND_OPS = ("close_valve", "selftest", "reboot")

# Command results (command_result.st). Names: ST_DONE, ST_FAILED, ST_REFUSED, ST_EXPIRED.
COMMAND_STATES = ("done", "failed", "refused", "expired")

# Reset causes (registration.boot, event.boot, heartbeat reset): 0 unknown, 1 power-on, 2 hard,
# 3 watchdog, 4 deep sleep, 5 soft, 6 brown-out (names: RESET_UNKNOWN ... RESET_BROWN_OUT)
RESET_CAUSES = (0, 1, 2, 3, 4, 5, 6)

# Fault bits (heartbeat faults, event.f): every bit codes_more.FAULT_NAMES lists
FAULT_ALL = 4095


def __getattr__(name):
    # the rest of the enumerations (protocol/codes_more.py), loaded on first use
    if name[:2] == "__":
        raise AttributeError(name)
    from protocol import codes_more

    try:
        return getattr(codes_more, name)
    except AttributeError:
        raise AttributeError("module 'protocol.codes' has no attribute '%s'" % name) from None

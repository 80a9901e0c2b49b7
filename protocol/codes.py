# gasguard's own enumerations, shared by the firmware and the fleet (docs/protocol.md "Numbers").
# These are ours, not from a registry: the numbers are part of the wire contract, so change
# them only by adding. Tuples list the values messages may carry, in a fixed order.
try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# Event kinds (event.k)
BOOT = "boot"
ALARM = "alarm"
ALARM_CLEAR = "alarm_clear"
VALVE_CLOSED = "valve_closed"
VALVE_REOPENED = "valve_reopened"
FAULT = "fault"
FAULT_CLEAR = "fault_clear"
POWER_LOST = "power_lost"
POWER_BACK = "power_back"
SELFTEST = "selftest"
CALIBRATION = "calibration"

EVENT_KINDS = (
    BOOT,
    ALARM,
    ALARM_CLEAR,
    VALVE_CLOSED,
    VALVE_REOPENED,
    FAULT,
    FAULT_CLEAR,
    POWER_LOST,
    POWER_BACK,
    SELFTEST,
    CALIBRATION,
)
# Never dropped from a full outbox (the firmware drops the oldest non-safety event instead).
SAFETY_KINDS = (ALARM, ALARM_CLEAR, VALVE_CLOSED, VALVE_REOPENED)

# Why the valve closed (event.src)
VALVE_SOURCES = ("alarm", "comparator", "command", "power", "selftest")

# Gases (registration.gas)
GASES = ("methane", "lpg", "propane", "butane")

# Alarm level (heartbeat alarm, event.lvl)
ALARM_NONE = const(0)
ALARM_LOW = const(1)
ALARM_HIGH = const(2)

# Valve state (heartbeat valve)
VALVE_OPEN = const(0)
VALVE_SHUT = const(1)
VALVE_CLOSING = const(2)
VALVE_UNKNOWN = const(3)

# Commands (command.op): never "open" -- a linked shutoff is reopened by hand, on site.
OP_CLOSE_VALVE = "close_valve"
OP_SELFTEST = "selftest"
OP_REBOOT = "reboot"
COMMAND_OPS = (OP_CLOSE_VALVE, OP_SELFTEST, OP_REBOOT)

# Command results (command_result.st)
ST_DONE = "done"
ST_FAILED = "failed"
ST_REFUSED = "refused"
ST_EXPIRED = "expired"
COMMAND_STATES = (ST_DONE, ST_FAILED, ST_REFUSED, ST_EXPIRED)

# Reset causes (registration.boot, event.boot, heartbeat reset)
RESET_UNKNOWN = const(0)
RESET_POWER_ON = const(1)
RESET_HARD = const(2)
RESET_WATCHDOG = const(3)
RESET_DEEP_SLEEP = const(4)
RESET_SOFT = const(5)
RESET_BROWN_OUT = const(6)
RESET_CAUSES = (0, 1, 2, 3, 4, 5, 6)

# Fault bits (heartbeat faults, event.f)
FAULT_SENSOR_OPEN = const(1)
FAULT_SENSOR_SHORT = const(2)
FAULT_READING_STUCK = const(4)
FAULT_OUT_OF_RANGE = const(8)
FAULT_ADC = const(16)
FAULT_VALVE_FEEDBACK = const(32)
FAULT_SENSOR_EOL = const(64)
FAULT_CONFIG_DEFAULTS = const(128)
FAULT_STORAGE = const(256)
FAULT_MAINS_LOST = const(512)
FAULT_BATTERY_LOW = const(1024)
FAULT_CAL_OVERDUE = const(2048)
FAULT_ALL = const(4095)

# bit -> short name, for logs and the dashboard
FAULT_NAMES = (
    (1, "sensor_open"),
    (2, "sensor_short"),
    (4, "reading_stuck"),
    (8, "out_of_range"),
    (16, "adc"),
    (32, "valve_feedback"),
    (64, "sensor_eol"),
    (128, "config_defaults"),
    (256, "storage"),
    (512, "mains_lost"),
    (1024, "battery_low"),
    (2048, "cal_overdue"),
)


def fault_names(bits):
    """The names of the fault bits set in `bits`, in bit order."""
    return [name for bit, name in FAULT_NAMES if bits & bit]

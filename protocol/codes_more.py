# gasguard's own enumerations, the part the device does not use: a name for each value, the
# fault bits by name, and which events are safety events. Read them through protocol/codes.py
# (`codes.ALARM`, `from protocol.codes import FAULT_ADC`), which loads this module on first use;
# the values themselves, the ones messages carry, are the tuples in protocol/codes.py.
try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


from protocol.codes import COMMAND_OPS, COMMAND_STATES, EVENT_KINDS, RESET_CAUSES

# Event kinds (event.k)
(
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
) = EVENT_KINDS
# Never dropped from a full outbox (the firmware drops the oldest non-safety event instead).
SAFETY_KINDS = (ALARM, ALARM_CLEAR, VALVE_CLOSED, VALVE_REOPENED)

# Alarm level (heartbeat alarm, event.lvl)
ALARM_NONE = const(0)
ALARM_LOW = const(1)
ALARM_HIGH = const(2)

# Valve state (heartbeat valve)
VALVE_OPEN = const(0)
VALVE_SHUT = const(1)
VALVE_CLOSING = const(2)
VALVE_UNKNOWN = const(3)

# Commands (command.op)
OP_CLOSE_VALVE, OP_SELFTEST, OP_REBOOT = COMMAND_OPS

# Command results (command_result.st)
ST_DONE, ST_FAILED, ST_REFUSED, ST_EXPIRED = COMMAND_STATES

# Reset causes (registration.boot, event.boot, heartbeat reset)
(
    RESET_UNKNOWN,
    RESET_POWER_ON,
    RESET_HARD,
    RESET_WATCHDOG,
    RESET_DEEP_SLEEP,
    RESET_SOFT,
    RESET_BROWN_OUT,
) = RESET_CAUSES

# Fault bits (heartbeat faults, event.f); FAULT_ALL (all of them) is in protocol/codes.py
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

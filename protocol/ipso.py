# LwM2M / IPSO object and resource ids used in our SenML names ("<object>/<instance>/<resource>").
# Registry: OMA LwM2M Object and Resource Registry (OMNA),
# https://technical.openmobilealliance.org/OMNA/LwM2M/LwM2MRegistry.html
# (source files: https://github.com/OpenMobileAlliance/lwm2m-registry, e.g. 3411.xml).
try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# Objects (registry)
OBJ_DEVICE = const(3)
OBJ_CONNECTIVITY = const(4)  # Connectivity Monitoring
OBJ_FIRMWARE_UPDATE = const(5)
OBJ_CONCENTRATION = const(3325)  # IPSO Concentration
OBJ_BUZZER = const(3338)  # IPSO Buzzer
OBJ_ON_OFF_SWITCH = const(3342)  # IPSO On/Off switch (used for valve position feedback)
OBJ_BATTERY = const(3411)  # uCIFI Battery (ext range)

# Resources (registry)
RES_DEVICE_FIRMWARE_VERSION = const(3)  # 3/0/3, string
RES_DEVICE_MEMORY_FREE = const(10)  # 3/0/10, integer, KiB
RES_RADIO_SIGNAL_STRENGTH = const(2)  # 4/0/2, integer, dBm
RES_FW_STATE = const(3)  # 5/0/3
RES_FW_UPDATE_RESULT = const(5)  # 5/0/5
RES_SENSOR_VALUE = const(5700)  # float
RES_SENSOR_UNITS = const(5701)  # string
RES_DIGITAL_INPUT_STATE = const(5500)  # boolean
RES_ON_OFF = const(5850)  # boolean
RES_BATTERY_LEVEL = const(1)  # 3411/x/1, integer, % (checked against lwm2m-registry 3411.xml)

# Ours: LwM2M "x-label" range 26241-32768 is for objects defined by vendors and not registered.
# Object 30000 "leak alarm with linked shutoff" is gasguard's own; nobody else assigns it.
OBJ_GASGUARD = const(30000)
GG_ALARM = const(0)  # 0 none, 1 low, 2 high
GG_SP_LOW = const(1)  # %LEL
GG_SP_HIGH = const(2)  # %LEL, 0 = single-level
GG_VALVE = const(3)  # 0 open, 1 closed, 2 closing, 3 unknown
GG_FAULTS = const(4)  # fault bits (protocol.codes)
GG_CAL_DUE = const(5)  # epoch s, 0 unknown
GG_VALVE_EOL = const(6)  # epoch s, 0 unknown
GG_POWERED_H = const(7)
GG_BASELINE = const(8)  # Rs/R0 in clean air
GG_UPTIME = const(9)  # s
GG_RESET = const(10)  # reset cause (protocol.codes)
GG_OUTBOX = const(11)
GG_HEAP_FREE = const(12)  # bytes
GG_LAST_SEQ = const(13)
GG_WARMUP = const(14)  # bool


def path(obj, inst, res):
    """The SenML name of a resource: "3325/0/5700"."""
    return "%d/%d/%d" % (obj, inst, res)

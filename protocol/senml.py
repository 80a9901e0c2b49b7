# SenML (RFC 8428) numbers: the CBOR labels of section 6 (Table 4) and the content formats.
# Registry: https://www.iana.org/assignments/senml/senml.xhtml ("SenML Labels"), and
# https://www.iana.org/assignments/core-parameters/ ("CoAP Content-Formats").
try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# CoAP content formats
CONTENT_FORMAT_SENML_JSON = const(110)
CONTENT_FORMAT_SENSML_JSON = const(111)
CONTENT_FORMAT_SENML_CBOR = const(112)  # application/senml+cbor: our heartbeats
CONTENT_FORMAT_SENSML_CBOR = const(113)

# CBOR labels (RFC 8428 section 6, Table 4)
BVER = const(-1)  # base version
BN = const(-2)  # base name
BT = const(-3)  # base time
BU = const(-4)  # base unit
BV = const(-5)  # base value
BS = const(-6)  # base sum
N = const(0)  # name
U = const(1)  # unit
V = const(2)  # numeric value
VS = const(3)  # string value
VB = const(4)  # boolean value
S = const(5)  # sum
T = const(6)  # time
UT = const(7)  # update time
VD = const(8)  # data value (bytes in CBOR)

# label -> JSON name, for diagnostics
LABEL_NAMES = {
    -1: "bver",
    -2: "bn",
    -3: "bt",
    -4: "bu",
    -5: "bv",
    -6: "bs",
    0: "n",
    1: "u",
    2: "v",
    3: "vs",
    4: "vb",
    5: "s",
    6: "t",
    7: "ut",
    8: "vd",
}

# Our base names: urn:dev:os:<PEN>-<device_id>: (RFC 8428 section 4.5.1 / RFC 9039 "os" URNs).
# 32473 is the documentation PEN of RFC 5612: ours until we register a PEN of our own.
PEN = const(32473)
BASE_NAME_PREFIX = "urn:dev:os:32473-"

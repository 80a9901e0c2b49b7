# SenML (RFC 8428) numbers the device does not use: the other CBOR labels of section 6
# (Table 4), their JSON names, and the content formats. Registries:
# https://www.iana.org/assignments/senml/senml.xhtml ("SenML Labels"), and
# https://www.iana.org/assignments/core-parameters/ ("CoAP Content-Formats").
# Read them through protocol/senml.py (`senml.LABEL_NAMES`), which loads this module on first use.
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

# CBOR labels (RFC 8428 section 6, Table 4); BN, BT, N, V, VS, VB, VD are in protocol/senml.py
BVER = const(-1)  # base version
BU = const(-4)  # base unit
BV = const(-5)  # base value
BS = const(-6)  # base sum
U = const(1)  # unit
S = const(5)  # sum
T = const(6)  # time
UT = const(7)  # update time

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

# The Private Enterprise Number in our base names (protocol/senml.py BASE_NAME_PREFIX): 32473
# is the documentation PEN of RFC 5612, ours until we register a PEN of our own.
PEN = const(32473)

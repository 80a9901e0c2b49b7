# SenML (RFC 8428) numbers: the CBOR labels of section 6 (Table 4) our heartbeats use, and our
# base names. Registry: https://www.iana.org/assignments/senml/senml.xhtml ("SenML Labels").
#
# The other labels (bver, bu, bv, bs, u, s, t, ut), their JSON names (LABEL_NAMES), the SenML
# content formats and PEN are in protocol/senml_more.py and read through this module all the
# same (`senml.LABEL_NAMES`): a module __getattr__ loads it on first use, so a board, which
# never asks, keeps none of those names in RAM (docs/firmware.md s10).
try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# CBOR labels (RFC 8428 section 6, Table 4)
BN = const(-2)  # base name
BT = const(-3)  # base time
N = const(0)  # name
V = const(2)  # numeric value
VS = const(3)  # string value
VB = const(4)  # boolean value
VD = const(8)  # data value (bytes in CBOR)

# Our base names: urn:dev:os:<PEN>-<device_id>: (RFC 8428 section 4.5.1 / RFC 9039 "os" URNs).
# 32473 (senml_more.PEN) is the documentation PEN of RFC 5612: ours until we register our own.
BASE_NAME_PREFIX = "urn:dev:os:32473-"


def __getattr__(name):
    # the rest of the labels (protocol/senml_more.py), loaded on first use
    if name[:2] == "__":
        raise AttributeError(name)
    from protocol import senml_more

    try:
        return getattr(senml_more, name)
    except AttributeError:
        raise AttributeError("module 'protocol.senml' has no attribute '%s'" % name) from None

# CoAP numbers (RFC 7252 and the RFCs that extend it), named as the IANA registry names them:
# https://www.iana.org/assignments/core-parameters/core-parameters.xhtml
# ("CoAP Codes", "CoAP Option Numbers", "CoAP Content-Formats"). Both sides import this module.
#
# Here: the numbers the device uses, and the RFC 7252 s4.8 transmission parameters. The rest of
# the registry (FETCH, CREATED, ETAG, BLOCK2, CF_JSON, METHODS, MAX_MESSAGE_SIZE, ...) is in
# protocol/coap_numbers_more.py and reads through this module all the same (`N.BLOCK2`,
# `from protocol.coap_numbers import OSCORE`): a module __getattr__ loads it on first use, so a
# board, which never asks, keeps none of those names in RAM (docs/firmware.md s10).
try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# Message types (RFC 7252 section 3)
CON = const(0)
NON = const(1)
ACK = const(2)
RST = const(3)


def code(cls, detail):
    """The one-byte code c.dd: code(2, 5) == 69 (2.05 Content)."""
    return (cls << 5) | detail


def code_text(c):
    """"2.05" for 69."""
    return "%d.%02d" % (c >> 5, c & 0x1F)


# Method codes (class 0)
EMPTY = const(0)
GET = const(1)
POST = const(2)
PUT = const(3)
DELETE = const(4)

# Response codes
CHANGED = const(68)  # 2.04
CONTENT = const(69)  # 2.05
BAD_REQUEST = const(128)  # 4.00
UNAUTHORIZED = const(129)  # 4.01
BAD_OPTION = const(130)  # 4.02
NOT_FOUND = const(132)  # 4.04
METHOD_NOT_ALLOWED = const(133)  # 4.05
UNSUPPORTED_CONTENT_FORMAT = const(143)  # 4.15
UNPROCESSABLE_ENTITY = const(150)  # 4.22, RFC 8132
INTERNAL_SERVER_ERROR = const(160)  # 5.00
SERVICE_UNAVAILABLE = const(163)  # 5.03

# Option numbers
URI_PATH = const(11)
CONTENT_FORMAT = const(12)
MAX_AGE = const(14)

# Content formats
CF_LINK_FORMAT = const(40)  # application/link-format (RFC 6690)
CF_CBOR = const(60)  # application/cbor: our maps
CF_SENML_CBOR = const(112)  # application/senml+cbor (RFC 8428): our heartbeats


class TransmissionParameters:
    """RFC 7252 section 4.8 transmission parameters, with the derived times of 4.8.2.

    The defaults are the RFC's; any of them may be overridden by keyword (from configuration),
    and the derived values follow. Times are in seconds."""

    # RFC 7252 section 4.8 defaults
    ACK_TIMEOUT = 2.0
    ACK_RANDOM_FACTOR = 1.5
    MAX_RETRANSMIT = 4
    NSTART = 1
    DEFAULT_LEISURE = 5.0
    PROBING_RATE = 1.0  # bytes per second
    # section 4.8.2 assumptions
    MAX_LATENCY = 100.0
    PROCESSING_DELAY = 2.0  # = ACK_TIMEOUT unless overridden

    _NAMES = (
        "ACK_TIMEOUT",
        "ACK_RANDOM_FACTOR",
        "MAX_RETRANSMIT",
        "NSTART",
        "DEFAULT_LEISURE",
        "PROBING_RATE",
        "MAX_LATENCY",
        "PROCESSING_DELAY",
    )

    def __init__(self, **overrides):
        for name, value in overrides.items():
            if name not in self._NAMES:
                raise ValueError(
                    "unknown CoAP transmission parameter %s (known: %s)"
                    % (name, ", ".join(self._NAMES))
                )
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError("CoAP %s must be a non-negative number, got %r" % (name, value))
            setattr(self, name, value)
        if self.ACK_RANDOM_FACTOR < 1:
            raise ValueError("CoAP ACK_RANDOM_FACTOR must be at least 1.0")

    @property
    def MAX_TRANSMIT_SPAN(self):  # 45 s by default
        return self.ACK_TIMEOUT * ((1 << self.MAX_RETRANSMIT) - 1) * self.ACK_RANDOM_FACTOR

    @property
    def MAX_TRANSMIT_WAIT(self):  # 93 s
        return self.ACK_TIMEOUT * ((1 << (self.MAX_RETRANSMIT + 1)) - 1) * self.ACK_RANDOM_FACTOR

    @property
    def MAX_RTT(self):  # 202 s
        return 2 * self.MAX_LATENCY + self.PROCESSING_DELAY

    @property
    def EXCHANGE_LIFETIME(self):  # 247 s
        return self.MAX_TRANSMIT_SPAN + 2 * self.MAX_LATENCY + self.PROCESSING_DELAY

    @property
    def NON_LIFETIME(self):  # 145 s
        return self.MAX_TRANSMIT_SPAN + self.MAX_LATENCY

    def timeouts(self, initial):
        """The waits before each retransmission and the final give-up, from an initial timeout
        chosen by the caller in [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR]: doubling."""
        return [initial * (1 << i) for i in range(self.MAX_RETRANSMIT + 1)]


DEFAULTS = TransmissionParameters()


def __getattr__(name):
    # the rest of the registry (protocol/coap_numbers_more.py), loaded on first use
    if name[:2] == "__":
        raise AttributeError(name)
    from protocol import coap_numbers_more

    try:
        return getattr(coap_numbers_more, name)
    except AttributeError:
        raise AttributeError(
            "module 'protocol.coap_numbers' has no attribute '%s'" % name
        ) from None

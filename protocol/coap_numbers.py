# CoAP numbers (RFC 7252 and the RFCs that extend it), named as the IANA registry names them:
# https://www.iana.org/assignments/core-parameters/core-parameters.xhtml
# ("CoAP Codes", "CoAP Option Numbers", "CoAP Content-Formats"). Both sides import this module.
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

DEFAULT_PORT = const(5683)
DEFAULT_SECURE_PORT = const(5684)
VERSION = const(1)


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
FETCH = const(5)  # RFC 8132
PATCH = const(6)  # RFC 8132
IPATCH = const(7)  # RFC 8132

METHODS = {"GET": 1, "POST": 2, "PUT": 3, "DELETE": 4, "FETCH": 5, "PATCH": 6, "iPATCH": 7}

# Response codes
CREATED = const(65)  # 2.01
DELETED = const(66)  # 2.02
VALID = const(67)  # 2.03
CHANGED = const(68)  # 2.04
CONTENT = const(69)  # 2.05
CONTINUE = const(95)  # 2.31, RFC 7959
BAD_REQUEST = const(128)  # 4.00
UNAUTHORIZED = const(129)  # 4.01
BAD_OPTION = const(130)  # 4.02
FORBIDDEN = const(131)  # 4.03
NOT_FOUND = const(132)  # 4.04
METHOD_NOT_ALLOWED = const(133)  # 4.05
NOT_ACCEPTABLE = const(134)  # 4.06
REQUEST_ENTITY_INCOMPLETE = const(136)  # 4.08, RFC 7959
CONFLICT = const(137)  # 4.09, RFC 8132
PRECONDITION_FAILED = const(140)  # 4.12
REQUEST_ENTITY_TOO_LARGE = const(141)  # 4.13
UNSUPPORTED_CONTENT_FORMAT = const(143)  # 4.15
UNPROCESSABLE_ENTITY = const(150)  # 4.22, RFC 8132
TOO_MANY_REQUESTS = const(157)  # 4.29, RFC 8516
INTERNAL_SERVER_ERROR = const(160)  # 5.00
NOT_IMPLEMENTED = const(161)  # 5.01
BAD_GATEWAY = const(162)  # 5.02
SERVICE_UNAVAILABLE = const(163)  # 5.03
GATEWAY_TIMEOUT = const(164)  # 5.04
PROXYING_NOT_SUPPORTED = const(165)  # 5.05

# Option numbers
IF_MATCH = const(1)
URI_HOST = const(3)
ETAG = const(4)
IF_NONE_MATCH = const(5)
OBSERVE = const(6)  # RFC 7641
URI_PORT = const(7)
LOCATION_PATH = const(8)
OSCORE = const(9)  # RFC 8613
URI_PATH = const(11)
CONTENT_FORMAT = const(12)
MAX_AGE = const(14)
URI_QUERY = const(15)
ACCEPT = const(17)
LOCATION_QUERY = const(20)
BLOCK2 = const(23)  # RFC 7959
BLOCK1 = const(27)  # RFC 7959
SIZE2 = const(28)  # RFC 7959
PROXY_URI = const(35)
PROXY_SCHEME = const(39)
SIZE1 = const(60)
ECHO = const(252)  # RFC 9175
NO_RESPONSE = const(258)  # RFC 7967
REQUEST_TAG = const(292)  # RFC 9175

# Content formats
CF_TEXT_PLAIN = const(0)  # text/plain; charset=utf-8
CF_LINK_FORMAT = const(40)  # application/link-format (RFC 6690)
CF_XML = const(41)
CF_OCTET_STREAM = const(42)
CF_JSON = const(50)
CF_CBOR = const(60)  # application/cbor: our maps
CF_SENML_JSON = const(110)
CF_SENML_CBOR = const(112)  # application/senml+cbor (RFC 8428): our heartbeats
CF_OSCORE = const(10001)  # application/oscore (RFC 8613)

# Sizes (RFC 7252 section 4.6): keep a message within 1152 bytes, a payload within 1024,
# and use block-wise transfer (RFC 7959) beyond that.
MAX_MESSAGE_SIZE = const(1152)
MAX_PAYLOAD_SIZE = const(1024)


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

# CoAP numbers (RFC 7252 and the RFCs that extend it) the device does not use, named as the
# IANA registry names them: https://www.iana.org/assignments/core-parameters/core-parameters.xhtml
# Read them through protocol/coap_numbers.py (`N.BLOCK2`), which loads this module on first use.
try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


DEFAULT_PORT = const(5683)
DEFAULT_SECURE_PORT = const(5684)
VERSION = const(1)

# Method codes (class 0)
FETCH = const(5)  # RFC 8132
PATCH = const(6)  # RFC 8132
IPATCH = const(7)  # RFC 8132

METHODS = {"GET": 1, "POST": 2, "PUT": 3, "DELETE": 4, "FETCH": 5, "PATCH": 6, "iPATCH": 7}

# Response codes
CREATED = const(65)  # 2.01
DELETED = const(66)  # 2.02
VALID = const(67)  # 2.03
CONTINUE = const(95)  # 2.31, RFC 7959
FORBIDDEN = const(131)  # 4.03
NOT_ACCEPTABLE = const(134)  # 4.06
REQUEST_ENTITY_INCOMPLETE = const(136)  # 4.08, RFC 7959
CONFLICT = const(137)  # 4.09, RFC 8132
PRECONDITION_FAILED = const(140)  # 4.12
REQUEST_ENTITY_TOO_LARGE = const(141)  # 4.13
TOO_MANY_REQUESTS = const(157)  # 4.29, RFC 8516
NOT_IMPLEMENTED = const(161)  # 5.01
BAD_GATEWAY = const(162)  # 5.02
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
CF_XML = const(41)
CF_OCTET_STREAM = const(42)
CF_JSON = const(50)
CF_SENML_JSON = const(110)
CF_OSCORE = const(10001)  # application/oscore (RFC 8613)

# Sizes (RFC 7252 section 4.6): keep a message within 1152 bytes, a payload within 1024,
# and use block-wise transfer (RFC 7959) beyond that.
MAX_MESSAGE_SIZE = const(1152)
MAX_PAYLOAD_SIZE = const(1024)

# The CoAP resources of docs/protocol.md, one table both sides import: the fleet routes on it,
# the firmware serves and posts to it. Paths are tuples of Uri-Path segments.
from protocol.coap_numbers import CF_CBOR, CF_SENML_CBOR, CHANGED, CONTENT, GET, POST

FLEET = "fleet"
DEVICE = "device"

REGISTER = ("gg", "reg")
HEARTBEAT = ("gg", "hb")
EVENT = ("gg", "ev")
COMMAND_RESULT = ("gg", "cr")
HEALTH = ("health",)
SELFTEST = ("selftest",)
VALVE_CLOSE = ("valve", "close")
COMMAND = ("cmd",)
WELL_KNOWN_CORE = (".well-known", "core")

# (name, side that serves it, method, path, request kind, request content format,
#  response kind, response content format, success code). A kind of None means no payload;
# "command?" means a command or an empty payload.
RESOURCES = (
    ("register", FLEET, POST, REGISTER, "registration", CF_CBOR, "ack", CF_CBOR, CHANGED),
    ("heartbeat", FLEET, POST, HEARTBEAT, "heartbeat", CF_SENML_CBOR, "ack", CF_CBOR, CHANGED),
    ("event", FLEET, POST, EVENT, "event", CF_CBOR, "ack", CF_CBOR, CHANGED),
    ("command_result", FLEET, POST, COMMAND_RESULT, "command_result", CF_CBOR, "ack", CF_CBOR,
     CHANGED),
    ("health", DEVICE, GET, HEALTH, None, None, "heartbeat", CF_SENML_CBOR, CONTENT),
    ("selftest", DEVICE, POST, SELFTEST, "command?", CF_CBOR, "command_result", CF_CBOR,
     CHANGED),
    ("valve_close", DEVICE, POST, VALVE_CLOSE, "command?", CF_CBOR, "command_result", CF_CBOR,
     CHANGED),
    ("command", DEVICE, POST, COMMAND, "command", CF_CBOR, "command_result", CF_CBOR, CHANGED),
)

NAME = 0
SIDE = 1
METHOD = 2
PATH = 3
REQUEST_KIND = 4
REQUEST_CF = 5
RESPONSE_KIND = 6
RESPONSE_CF = 7
SUCCESS = 8


def find(method, path):
    """The RESOURCES row for (method, path tuple), or None."""
    path = tuple(path)
    for row in RESOURCES:
        if row[METHOD] == method and row[PATH] == path:
            return row
    return None


def for_side(side):
    """The rows one side serves."""
    return [row for row in RESOURCES if row[SIDE] == side]


def uri_path(path):
    """"/gg/hb" for ("gg", "hb")."""
    return "/" + "/".join(path)


def split(uri):
    """("gg", "hb") for "/gg/hb" (empty segments dropped)."""
    return tuple(s for s in uri.split("/") if s)


def link_format(side):
    """The RFC 6690 body of GET /.well-known/core for one side: `</gg/hb>;ct=112,...`."""
    out = []
    for row in RESOURCES:
        if row[SIDE] == side:
            cf = row[RESPONSE_CF] if row[METHOD] == GET else row[REQUEST_CF]
            out.append("<%s>;ct=%d" % (uri_path(row[PATH]), cf))
    return ",".join(out)

# The messages of docs/protocol.md: encode, decode and validate each kind, on MicroPython (the
# firmware) and CPython (the fleet). The field tables below are the contract in data form;
# protocol/schema.cddl says the same for other tools, and protocol/vectors/ holds golden bytes.
#
#   encode(kind, obj) -> bytes   validate, then deterministic CBOR (a SenML pack for heartbeats)
#   decode(kind, data) -> dict   CBOR -> validated dict (the flat dict for heartbeats)
#   validate(kind, obj)          raise MessageError naming the field, what was expected and got
#
# Unknown keys (and unknown SenML records) are tolerated: not checked, passed through as they
# are. CBOR failures surface as protocol.cbor.CBORError, everything else as MessageError.
from protocol import codes
from protocol import senml
from protocol.cbor import Tag, dump_into, dumps, loads
from protocol.cbor_decode import TooManyItems
from protocol.cbor_encode import _head


class MessageError(ValueError):
    """A message that does not match the contract. str() is "<kind>.<field>: <problem>", and
    .field holds "<kind>.<field>" on its own."""

    def __init__(self, field, problem):
        super().__init__("%s: %s" % (field, problem))
        self.field = field


# --- value types: name -> checker(value) -> bool ------------------------------------------

_MAX_U64 = 0xFFFFFFFFFFFFFFFF


def _is_uint(v):
    return type(v) is int and 0 <= v <= _MAX_U64


def _is_int(v):
    return type(v) is int and -_MAX_U64 - 1 <= v <= _MAX_U64


def _is_number(v):
    return (type(v) is int and -_MAX_U64 - 1 <= v <= _MAX_U64) or type(v) is float


def _is_text(v):
    return type(v) is str


def _is_bytes(v):
    return type(v) is bytes


def _is_bool(v):
    return type(v) is bool


_DEV_FIRST = "abcdefghijklmnopqrstuvwxyz0123456789"
_DEV_REST = _DEV_FIRST + "-"


def _is_device_id(v):
    """[a-z0-9][a-z0-9-]{0,31} (MicroPython's re has no counted repetition, so by hand)."""
    if type(v) is not str or not 1 <= len(v) <= 32 or v[0] not in _DEV_FIRST:
        return False
    for c in v:
        if c not in _DEV_REST:
            return False
    return True


def _is_array(v):
    return type(v) is list


_TYPES = {
    "uint": _is_uint,
    "int": _is_int,
    "number": _is_number,
    "text": _is_text,
    "bytes": _is_bytes,
    "bool": _is_bool,
    "device_id": _is_device_id,
    "array": _is_array,
}

_EXPECTED = {"device_id": "device_id ([a-z0-9][a-z0-9-]{0,31})"}


def cbor_type_name(v):
    """How a value reads in an error: "uint", "negint", "text", "map"..."""
    t = type(v)
    if t is bool:
        return "bool"
    if t is int:
        return "uint" if v >= 0 else "negint"
    if t is float:
        return "float"
    if t is str:
        return "text"
    if t is bytes or t is bytearray:
        return "bytes"
    if t is list or t is tuple:
        return "array"
    if t is dict:
        return "map"
    if v is None:
        return "null"
    if t is Tag:
        return "tag %d" % v.tag
    return t.__name__


# --- field tables: kind -> ((key, type, required, rule), ...) -------------------------------
# rule: None; ("in", values) for an enumeration; ("range", lo, hi) inclusive (hi None: no
# upper bound);
# ("items", kind, max_count) for an array of nested messages.

REQ = True
OPT = False


def _in(values):
    return ("in", values)


def _range(lo, hi):
    return ("range", lo, hi)


FIELDS = {
    "registration": (
        ("dev", "device_id", REQ, None),
        ("uid", "bytes", REQ, None),
        ("model", "text", REQ, None),
        ("board", "text", REQ, None),
        ("fw", "text", REQ, None),
        ("gas", "text", REQ, _in(codes.GASES)),
        ("seq", "uint", REQ, None),
        ("boot", "uint", REQ, _in(codes.RESET_CAUSES)),
        ("site", "text", OPT, None),
    ),
    "event": (
        ("dev", "device_id", REQ, None),
        ("seq", "uint", REQ, _range(1, None)),
        ("k", "text", REQ, _in(codes.EVENT_KINDS)),
        ("up", "uint", REQ, None),
        ("t", "uint", OPT, None),
        ("lel", "number", OPT, None),
        ("lvl", "uint", OPT, _range(1, 2)),
        ("f", "uint", OPT, _range(0, codes.FAULT_ALL)),
        ("src", "text", OPT, _in(codes.VALVE_SOURCES)),
        ("ok", "bool", OPT, None),
        ("by", "text", OPT, None),
        ("boot", "uint", OPT, _in(codes.RESET_CAUSES)),
    ),
    "command": (
        ("id", "uint", REQ, None),
        ("op", "text", REQ, _in(codes.COMMAND_OPS)),
        ("exp", "uint", OPT, None),
    ),
    "command_result": (
        ("dev", "device_id", REQ, None),
        ("id", "uint", REQ, None),
        ("st", "text", REQ, _in(codes.COMMAND_STATES)),
        ("ok", "bool", OPT, None),
        ("why", "text", OPT, None),
    ),
    "ack": (
        ("st", "uint", REQ, None),
        ("seq", "uint", OPT, None),
        ("pc", "uint", REQ, None),
        ("cmds", "array", OPT, ("items", "command", 4)),
    ),
    # The heartbeat's flat dict (the SenML pack is built and parsed by _senml_* below).
    "heartbeat": (
        ("dev", "device_id", REQ, None),
        ("t", "uint", OPT, None),  # device time, epoch s; 0 (the default) = not known yet
        ("fw", "text", REQ, None),
        ("mem_free_kb", "uint", OPT, None),
        ("rssi", "int", OPT, None),
        ("lel", "number", REQ, None),
        ("valve_open", "bool", OPT, None),
        ("buzzer", "bool", OPT, None),
        ("battery_pct", "uint", OPT, _range(0, 100)),
        ("alarm", "uint", REQ, _range(0, 2)),
        ("sp_low", "number", OPT, None),
        ("sp_high", "number", OPT, None),
        ("valve", "uint", REQ, _range(0, 3)),
        ("faults", "uint", REQ, _range(0, codes.FAULT_ALL)),
        ("cal_due", "uint", OPT, None),
        ("valve_eol", "uint", OPT, None),
        ("powered_h", "uint", OPT, None),
        ("baseline", "number", OPT, None),
        ("uptime", "uint", REQ, None),
        ("reset", "uint", OPT, _in(codes.RESET_CAUSES)),
        ("outbox", "uint", OPT, None),
        ("heap_free", "uint", OPT, None),
        ("last_seq", "uint", REQ, None),
        ("warmup", "bool", OPT, None),
    ),
}

KINDS = ("registration", "heartbeat", "event", "command", "command_result", "ack")

# The most items (array) or keys (map) any one container of a message may hold, by kind: twice
# the fields the schema names (room for keys a newer sender adds), at least 16. Real messages
# hold at most 24 (a heartbeat's SenML records); without a bound below cbor's MAX_LEN, a 1 KB
# message of one-byte items made a list of 1,024 slots (an 8 KB block) before validation.
MAX_ITEMS = {}
for _kind in KINDS:
    MAX_ITEMS[_kind] = max(16, 2 * len(FIELDS[_kind]))
del _kind

# Heartbeat: flat name -> SenML record name (LwM2M/IPSO path; protocol/ipso.py), in pack order.
HEARTBEAT_RECORDS = (
    ("fw", "3/0/3"),
    ("mem_free_kb", "3/0/10"),
    ("rssi", "4/0/2"),
    ("lel", "3325/0/5700"),
    ("valve_open", "3342/0/5500"),
    ("buzzer", "3338/0/5850"),
    ("battery_pct", "3411/0/1"),
    ("alarm", "30000/0/0"),
    ("sp_low", "30000/0/1"),
    ("sp_high", "30000/0/2"),
    ("valve", "30000/0/3"),
    ("faults", "30000/0/4"),
    ("cal_due", "30000/0/5"),
    ("valve_eol", "30000/0/6"),
    ("powered_h", "30000/0/7"),
    ("baseline", "30000/0/8"),
    ("uptime", "30000/0/9"),
    ("reset", "30000/0/10"),
    ("outbox", "30000/0/11"),
    ("heap_free", "30000/0/12"),
    ("last_seq", "30000/0/13"),
    ("warmup", "30000/0/14"),
)
_FLAT_TO_SENML = {}
for _flat, _name in HEARTBEAT_RECORDS:
    _FLAT_TO_SENML[_flat] = _name
del _flat, _name


# --- validation ---------------------------------------------------------------------------


def _kind_fields(kind):
    fields = FIELDS.get(kind)
    if fields is None:
        raise MessageError(
            "kind", "expected one of %s, got %r" % (", ".join(KINDS), kind)
        )
    return fields


def _check_map(where, obj, fields):
    if type(obj) is not dict:
        raise MessageError(where, "expected map, got %s" % cbor_type_name(obj))
    for key, tname, required, rule in fields:
        if key not in obj:
            if required:
                raise MessageError(where + "." + key, "missing (required)")
            continue
        v = obj[key]
        if not _TYPES[tname](v):
            raise MessageError(
                where + "." + key,
                "expected %s, got %s"
                % (_EXPECTED.get(tname, tname), _got(v) if tname == "device_id" else cbor_type_name(v)),
            )
        if rule is not None:
            _check_rule(where, key, v, rule)  # the field's name is built only for an error


def _got(v):
    name = cbor_type_name(v)
    if type(v) is str:
        if len(v) > 40:
            v = v[:40] + "..."
        return "%s %r" % (name, v)
    return name


def _check_rule(where, key, v, rule):
    how = rule[0]
    if how == "in":
        if v not in rule[1]:
            raise MessageError(
                where + "." + key, "expected one of %s, got %r" % (", ".join(str(x) for x in rule[1]), v)
            )
    elif how == "range":
        if rule[2] is None:
            if v < rule[1]:
                raise MessageError(where + "." + key, "expected at least %s, got %r" % (rule[1], v))
        elif not rule[1] <= v <= rule[2]:
            raise MessageError(where + "." + key, "expected %s..%s, got %r" % (rule[1], rule[2], v))
    elif how == "items":
        field = where + "." + key
        if len(v) > rule[2]:
            raise MessageError(field, "expected at most %d items, got %d" % (rule[2], len(v)))
        fields = FIELDS[rule[1]]
        for i in range(len(v)):
            _check_map("%s[%d]" % (field, i), v[i], fields)


def validate(kind, obj):
    """Check obj (a dict; for heartbeats the flat dict) against the contract for `kind`.
    Returns obj; raises MessageError naming the first field at fault."""
    _check_map(kind, obj, _kind_fields(kind))
    return obj


# --- heartbeat <-> SenML pack ---------------------------------------------------------------


def base_name(dev):
    """The SenML base name of a device: urn:dev:os:32473-<device_id>:"""
    return senml.BASE_NAME_PREFIX + dev + ":"


def _senml_value_label(v):
    t = type(v)
    if t is bool:
        return senml.VB
    if t is str:
        return senml.VS
    if t is bytes:
        return senml.VD
    return senml.V


def _extra_keys(flat):
    """The flat keys outside the table that can travel as records, sorted (dict order differs
    between MicroPython and CPython; the bytes must not)."""
    out = []
    for key in flat:
        if key not in _FLAT_TO_SENML and key != "dev" and key != "t" and type(key) is str:
            if type(flat[key]) in (bool, str, bytes, int, float):
                out.append(key)
    out.sort()
    return out


def _write_heartbeat(flat):
    """The same bytes as dumps(heartbeat_to_pack(flat)), written straight into one buffer: no
    record dicts, no key sorting (the device sends one every interval). Record keys in bytewise
    order of their encodings: n (0x00), the value (0x02..0x08), then bn (0x21), bt (0x22)."""
    extra = _extra_keys(flat)
    count = len(extra)
    for key, _ in HEARTBEAT_RECORDS:
        if key in flat:
            count += 1
    buf = bytearray()
    _head(buf, 4, count)
    first = True
    for key, name in HEARTBEAT_RECORDS:
        if key in flat:
            _write_record(buf, name, flat[key], flat if first else None)
            first = False
    for key in extra:
        _write_record(buf, key, flat[key], None)
    return bytes(buf)


def _write_record(buf, name, v, first):
    buf.append(0xA2 if first is None else 0xA4)
    buf.append(senml.N)
    dump_into(buf, name)
    buf.append(_senml_value_label(v))
    dump_into(buf, v)
    if first is not None:
        buf.append(0x21)  # bn (-2)
        dump_into(buf, base_name(first["dev"]))
        buf.append(0x22)  # bt (-3)
        dump_into(buf, first.get("t", 0))


# --- encode / decode ------------------------------------------------------------------------


def encode(kind, obj):
    """Validate obj and return its deterministic CBOR bytes (heartbeat: the SenML pack)."""
    validate(kind, obj)
    if kind == "heartbeat":
        return _write_heartbeat(obj)
    return dumps(obj)


def decode(kind, data):
    """Decode CBOR bytes of `kind` and validate; returns a dict (heartbeat: the flat dict).
    An array or map over MAX_ITEMS[kind] is a MessageError naming its field."""
    fields = _kind_fields(kind)
    try:
        obj = loads(data, max_items=MAX_ITEMS[kind])
    except TooManyItems as e:
        from protocol import messages_more

        raise messages_more.too_many(kind, data, e.offset)
    if kind == "heartbeat":
        from protocol import messages_more

        obj = messages_more.pack_to_heartbeat(obj)
    _check_map(kind, obj, fields)
    return obj


def __getattr__(name):
    # heartbeat_to_pack, pack_to_heartbeat: in protocol/messages_more.py, loaded on first use
    if name in ("heartbeat_to_pack", "pack_to_heartbeat"):
        from protocol import messages_more

        return getattr(messages_more, name)
    raise AttributeError("module 'protocol.messages' has no attribute '%s'" % name)

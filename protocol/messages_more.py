# The parts of protocol/messages.py the device does not call: the heartbeat's flat dict <->
# SenML pack as dicts (the fleet decodes heartbeats; the device writes its own straight into a
# buffer), and the walk that names the field of a container decode refused as too long.
# protocol.messages loads this module on first use (messages.decode of a heartbeat, a refused
# container, `messages.pack_to_heartbeat`), so a board keeps none of it in RAM
# (docs/firmware.md s10). Same contract, same errors: see protocol/messages.py.
from protocol import senml
from protocol.cbor import CBORError, loads_prefix
from protocol.messages import (
    FIELDS,
    HEARTBEAT_RECORDS,
    MAX_ITEMS,
    MessageError,
    _extra_keys,
    _got,
    _is_device_id,
    _is_number,
    _senml_value_label,
    base_name,
    cbor_type_name,
)

_SENML_TO_FLAT = {}
for _flat, _name in HEARTBEAT_RECORDS:
    _SENML_TO_FLAT[_name] = _flat
del _flat, _name


def heartbeat_to_pack(flat):
    """The SenML pack (a list of records with CBOR labels) for a validated flat dict."""
    records = []
    first = {senml.BN: base_name(flat["dev"]), senml.BT: flat.get("t", 0)}
    for key, name in HEARTBEAT_RECORDS:
        if key in flat:
            rec = first if first is not None else {}
            first = None
            rec[senml.N] = name
            v = flat[key]
            rec[_senml_value_label(v)] = v
            records.append(rec)
    # Unknown keys are tolerated: they travel as records named by the key itself.
    for key in _extra_keys(flat):
        v = flat[key]
        records.append({senml.N: key, _senml_value_label(v): v})
    return records


_VALUE_LABELS = (senml.V, senml.VS, senml.VB, senml.VD)


def pack_to_heartbeat(pack):
    """The flat dict of a SenML pack (not yet validated against the heartbeat table)."""
    if type(pack) is not list:
        raise MessageError("heartbeat", "expected array (SenML pack), got %s" % cbor_type_name(pack))
    if not pack:
        raise MessageError("heartbeat", "expected at least one SenML record, got none")
    flat = {}
    bn = None
    bt = 0
    for i in range(len(pack)):
        rec = pack[i]
        # the record's name ("heartbeat[3]") is built only for an error: nothing allocated per record
        if type(rec) is not dict:
            raise MessageError(_rec(i), "expected map (SenML record), got %s" % cbor_type_name(rec))
        if senml.BN in rec:
            bn = rec[senml.BN]
            if type(bn) is not str:
                raise MessageError(_rec(i) + ".bn", "expected text, got %s" % cbor_type_name(bn))
            if i == 0:
                _bn_device(bn, flat)
        if senml.BT in rec:
            bt = rec[senml.BT]
            if not _is_number(bt):
                raise MessageError(_rec(i) + ".bt", "expected number, got %s" % cbor_type_name(bt))
            if i == 0:
                flat["t"] = bt
        if bn is None:
            raise MessageError(_rec(i) + ".bn", "missing (the first record names the device)")
        n = rec.get(senml.N, "")
        if type(n) is not str:
            raise MessageError(_rec(i) + ".n", "expected text, got %s" % cbor_type_name(n))
        found = None
        for label in _VALUE_LABELS:
            if label in rec:
                if found is not None:
                    raise MessageError(_rec(i), "expected one value (v, vs, vb or vd), got several")
                found = label
        if found is None:
            raise MessageError(_rec(i), "expected a value (v, vs, vb or vd), got none")
        key = _SENML_TO_FLAT.get(n, n)
        if key in flat:
            raise MessageError(_rec(i), "duplicate record %s (%s)" % (n, key))
        flat[key] = rec[found]
    if "t" not in flat:
        flat["t"] = 0
    return flat


def _rec(i):
    return "heartbeat[%d]" % i


def _bn_device(bn, flat):
    prefix = senml.BASE_NAME_PREFIX
    dev = bn[len(prefix) : -1]
    if not bn.startswith(prefix) or not bn.endswith(":") or not _is_device_id(dev):
        raise MessageError(
            _rec(0) + ".bn", "expected %s<device_id>:, got %s" % (prefix, _got(bn))
        )
    flat["dev"] = dev


# --- naming the field of a refused container -------------------------------------------


def too_many(kind, data, start):
    """The MessageError for the array or map at byte `start` that decode refused as too long."""
    limit = MAX_ITEMS[kind]
    field = _field_at(kind, data, start, limit)
    what = "items" if data[start] >> 5 == 4 else "keys"
    for key, _, _, rule in FIELDS[kind]:
        if rule is not None and rule[0] == "items" and field == kind + "." + key:
            return MessageError(field, "expected at most %d items, got more than %d" % (rule[2], limit))
    return MessageError(field, "expected at most %d %s, got more" % (limit, what))


def _head_at(data, pos):
    # (major type, argument or None when indefinite, next offset) of a head decode accepted
    ib = data[pos]
    ai = ib & 0x1F
    if ai < 24:
        return ib >> 5, ai, pos + 1
    if ai == 31:
        return ib >> 5, None, pos + 1
    n = 1 << (ai - 24)
    return ib >> 5, int.from_bytes(bytes(data[pos + 1 : pos + 1 + n]), "big"), pos + 1 + n


def _field_at(kind, data, target, limit):
    """Where the container at byte `target` sits ("heartbeat.up", "ack.cmds", "heartbeat[3]"):
    a walk down from the top, element by element, into the one that fails to decode. Runs only
    after decode refused the message, so it costs nothing on the way in."""
    where = kind
    pos = 0
    try:
        while pos < target:
            major, n, p = _head_at(data, pos)
            if major == 6:  # a tag: go on with its content
                pos = p
                continue
            i = 0
            key = None
            while n is None or i < n:
                if major == 5:
                    key, p = loads_prefix(data, p, max_items=limit)
                try:
                    p = loads_prefix(data, p, max_items=limit)[1]
                except CBORError:
                    break  # the container is in this element
                i += 1
            if major == 5:
                where += "." + key if type(key) is str else "[%r]" % (key,)
            else:
                where += "[%d]" % i
            pos = p
    except CBORError:
        pass  # in a map key: name what was found so far
    return where

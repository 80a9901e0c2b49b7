# CBOR diagnostic notation (RFC 8949 section 8) of a decoded value, for the golden vectors'
# .diag files, logs and `gasguard protocol decode`. Common subset of MicroPython and CPython.
# The notation shows values, not encodings: floats carry no width indicator because our
# encoder always picks the shortest exact width, which is what a reader of "3.5" assumes.
from protocol.cbor_types import Simple, Tag, _UndefinedType


def _float(x):
    if x != x:
        return "NaN"
    if x == float("inf"):
        return "Infinity"
    if x == -float("inf"):
        return "-Infinity"
    r = repr(x)
    mant, e, exp = r.partition("e")
    if "." not in mant:
        mant += ".0"
    return mant + e + exp


def _text(s):
    out = ['"']
    for c in s:
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append("\\u%04x" % ord(c))
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _nested(obj):
    if type(obj) is dict:
        items = obj.values()
    elif type(obj) is list or type(obj) is tuple:
        items = obj
    else:
        return False
    for v in items:
        if type(v) in (dict, list, tuple):
            return True
    return False


def _diag(obj, out, indent, level):
    t = type(obj)
    if t is bool:
        out.append("true" if obj else "false")
    elif obj is None:
        out.append("null")
    elif t is int:
        out.append(str(obj))
    elif t is float:
        out.append(_float(obj))
    elif t is str:
        out.append(_text(obj))
    elif t is bytes or t is bytearray:
        out.append("h'" + "".join("%02x" % b for b in obj) + "'")
    elif t is list or t is tuple or t is dict:
        is_map = t is dict
        items = list(obj.items()) if is_map else obj
        if is_map:
            from protocol.cbor import dumps

            items.sort(key=lambda kv: dumps(kv[0]))  # the order they are sent in
        out.append("{" if is_map else "[")
        brk = indent is not None and _nested(obj)
        pad = "\n" + " " * (indent * (level + 1)) if brk else ""
        first = True
        for item in items:
            if not first:
                out.append(",")
                if not brk:
                    out.append(" ")
            first = False
            out.append(pad)
            if is_map:
                _diag(item[0], out, indent, level + 1)
                out.append(": ")
                _diag(item[1], out, indent, level + 1)
            else:
                _diag(item, out, indent, level + 1)
        if brk:
            out.append("\n" + " " * (indent * level))
        out.append("}" if is_map else "]")
    elif t is Tag:
        out.append("%d(" % obj.tag)
        _diag(obj.value, out, indent, level)
        out.append(")")
    elif t is Simple:
        out.append("simple(%d)" % obj.value)
    elif t is _UndefinedType:
        out.append("undefined")
    else:
        raise ValueError("no diagnostic notation for type %s" % t.__name__)


def diag(obj, indent=None):
    """The diagnostic notation of obj; with indent (spaces), containers holding containers are
    spread over lines."""
    out = []
    _diag(obj, out, indent, 0)
    return "".join(out)

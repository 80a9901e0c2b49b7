# CBOR encoder (RFC 8949), always deterministic (section 4.2.1): shortest argument, shortest
# exact float, definite lengths, map keys sorted by the bytes of their encoding.
# Common subset of MicroPython and CPython. Handlers come from a table keyed by Python type.
#
# What we send is what the fleet and the device compare byte for byte (golden vectors), so
# there is exactly one encoding per value: no options to pick another.
import struct

from protocol.cbor_types import CBORError, Simple, Tag, Undefined, _UndefinedType

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


MAX_DEPTH = const(16)  # same default as the decoder: containers nested deeper are refused

_MAX_U64 = 0xFFFFFFFFFFFFFFFF
_INF = float("inf")


def _head(buf, major, n):
    """Append the initial byte and the shortest argument for major type `major`, value n."""
    mt = major << 5
    if n < 24:
        buf.append(mt | n)
    elif n < 0x100:
        buf.append(mt | 24)
        buf.append(n)
    elif n < 0x10000:
        buf.append(mt | 25)
        buf.append(n >> 8)
        buf.append(n & 0xFF)
    elif n < 0x100000000:
        buf.append(mt | 26)
        buf.extend(n.to_bytes(4, "big"))
    else:
        buf.append(mt | 27)
        buf.extend(n.to_bytes(8, "big"))


def _enc_int(buf, obj, depth):
    if obj >= 0:
        if obj <= _MAX_U64:
            _head(buf, 0, obj)
            return
        tag, n = 2, obj
    else:
        n = -1 - obj
        if n <= _MAX_U64:
            _head(buf, 1, n)
            return
        tag = 3
    # Bignum (section 3.4.3): only past 64 bits, big-endian with no leading zero bytes.
    size = 0
    v = n
    while v:
        v >>= 8
        size += 1
    _head(buf, 6, tag)
    _head(buf, 2, size)
    buf.extend(n.to_bytes(size, "big"))


def _enc_bool(buf, obj, depth):
    buf.append(0xF5 if obj else 0xF4)


def _enc_none(buf, obj, depth):
    buf.append(0xF6)


def _enc_undefined(buf, obj, depth):
    buf.append(0xF7)


def _enc_bytes(buf, obj, depth):
    _head(buf, 2, len(obj))
    buf.extend(obj)


def _enc_str(buf, obj, depth):
    b = obj.encode("utf-8")
    _head(buf, 3, len(b))
    buf.extend(b)


def _enc_array(buf, obj, depth):
    if depth >= MAX_DEPTH:
        raise CBORError("nesting deeper than %d" % MAX_DEPTH)
    _head(buf, 4, len(obj))
    for item in obj:
        _encode(buf, item, depth + 1)


def _key_of(pair):
    return pair[0]


# Text map keys are few and repeat in every message ("dev", "seq"...): their encodings are kept
# here, so a map of text keys is sorted and written with no allocation per key. Bounded: past
# _KEY_CACHE_MAX keys, or for long keys, maps take the general path.
_KEY_CACHE = {}  # text key -> its encoding
_KEY_BACK = {}  # encoding -> text key
_KEY_CACHE_MAX = const(48)
_KEY_CACHE_LEN = const(16)


def _text_keys(obj):
    """The cached encodings of obj's keys if all are short text, else None."""
    kbs = []
    for k in obj:
        if type(k) is not str:
            return None
        kb = _KEY_CACHE.get(k)
        if kb is None:
            if len(_KEY_CACHE) >= _KEY_CACHE_MAX or len(k) > _KEY_CACHE_LEN:
                return None
            b = bytearray()
            _enc_str(b, k, 0)
            kb = bytes(b)
            _KEY_CACHE[k] = kb
            _KEY_BACK[kb] = k
        kbs.append(kb)
    return kbs


def _enc_map(buf, obj, depth):
    if depth >= MAX_DEPTH:
        raise CBORError("nesting deeper than %d" % MAX_DEPTH)
    n = len(obj)
    _head(buf, 5, n)
    if n == 0:
        return
    # Bytewise order of the encoded keys (section 4.2.1). The keys are distinct, so the order is
    # total and the sort's stability (none on MicroPython) does not matter.
    kbs = _text_keys(obj)
    if kbs is not None:
        kbs.sort()
        for kb in kbs:
            buf.extend(kb)
            _encode(buf, obj[_KEY_BACK[kb]], depth + 1)
        return
    pairs = []
    for k, v in obj.items():
        kb = bytearray()
        _encode(kb, k, depth + 1)
        pairs.append((bytes(kb), v))
    pairs.sort(key=_key_of)
    prev = None
    for kb, v in pairs:
        if kb == prev:
            raise CBORError("two map keys encode to the same bytes %s" % _hex(kb))
        prev = kb
        buf.extend(kb)
        _encode(buf, v, depth + 1)


def _hex(b):
    return "".join("%02x" % x for x in b)


def _half_bits(b):
    """The IEEE 754 half-precision bits for float32 bits b if the value is exact in half,
    else None. (b comes from a float that is exact in single precision.)"""
    sign = (b >> 16) & 0x8000
    e = (b >> 23) & 0xFF
    m = b & 0x7FFFFF
    if e == 0xFF:
        return None  # infinities and NaN are handled by the caller
    if e == 0:
        return sign if m == 0 else None  # zero; float32 subnormals are below half's range
    e -= 127
    if -14 <= e <= 15:
        if m & 0x1FFF:
            return None
        return sign | ((e + 15) << 10) | (m >> 13)
    if -24 <= e < -14:  # half subnormal: value = m_half * 2**-24
        full = m | 0x800000
        shift = -1 - e
        if full & ((1 << shift) - 1):
            return None
        return sign | (full >> shift)
    return None


def _enc_float(buf, obj, depth):
    if obj != obj:  # NaN: one canonical form (section 4.2.2)
        buf.extend(b"\xf9\x7e\x00")
        return
    if obj == _INF or obj == -_INF:
        buf.extend(b"\xf9\x7c\x00" if obj > 0 else b"\xf9\xfc\x00")
        return
    try:
        single = struct.pack(">f", obj)
    except OverflowError:  # CPython: too large for float32
        single = None
    # Exact in single? (Packing rounds, underflows to 0 and, on MicroPython, overflows to inf.)
    if single is not None and struct.unpack(">f", single)[0] == obj:
        h = _half_bits(int.from_bytes(single, "big"))
        if h is not None:
            buf.append(0xF9)
            buf.append(h >> 8)
            buf.append(h & 0xFF)
        else:
            buf.append(0xFA)
            buf.extend(single)
    else:
        buf.append(0xFB)
        buf.extend(struct.pack(">d", obj))


def _enc_tag(buf, obj, depth):
    if depth >= MAX_DEPTH:
        raise CBORError("nesting deeper than %d" % MAX_DEPTH)
    _head(buf, 6, obj.tag)
    _encode(buf, obj.value, depth + 1)


def _enc_simple(buf, obj, depth):
    if obj.value < 24:
        buf.append(0xE0 | obj.value)
    else:
        buf.append(0xF8)
        buf.append(obj.value)


# Python type -> handler. Exact types first (the fast path); subclasses are found by the
# isinstance walk in _encode, in the order of _BY_BASE (bool before int: bool is an int).
_ENCODERS = {
    int: _enc_int,
    bool: _enc_bool,
    type(None): _enc_none,
    str: _enc_str,
    bytes: _enc_bytes,
    bytearray: _enc_bytes,
    memoryview: _enc_bytes,
    list: _enc_array,
    tuple: _enc_array,
    dict: _enc_map,
    float: _enc_float,
    Tag: _enc_tag,
    Simple: _enc_simple,
    _UndefinedType: _enc_undefined,
}

_BY_BASE = (
    (bool, _enc_bool),
    (int, _enc_int),
    (str, _enc_str),
    (bytes, _enc_bytes),
    (bytearray, _enc_bytes),
    (list, _enc_array),
    (tuple, _enc_array),
    (dict, _enc_map),
    (float, _enc_float),
)


def _encode(buf, obj, depth):
    fn = _ENCODERS.get(type(obj))
    if fn is None:
        for base, handler in _BY_BASE:
            if isinstance(obj, base):
                fn = handler
                if base is int or base is str or base is float:
                    obj = base(obj)  # MicroPython's operators refuse int/str subclasses
                break
        else:
            raise CBORError("cannot encode a value of type %s" % type(obj).__name__)
    fn(buf, obj, depth)


def dumps(obj):
    """The deterministic CBOR encoding of obj, as bytes. Raises CBORError for a value CBOR
    cannot carry (a set, an object) or containers nested deeper than MAX_DEPTH."""
    buf = bytearray()
    _encode(buf, obj, 0)
    return bytes(buf)


def dump_into(buf, obj):
    """Append the encoding of obj to bytearray buf (saves a copy on the device)."""
    _encode(buf, obj, 0)
    return buf


# Undefined is re-exported so `from protocol.cbor_encode import *` users see the full set.
__all__ = ("dumps", "dump_into", "CBORError", "Tag", "Simple", "Undefined", "MAX_DEPTH")

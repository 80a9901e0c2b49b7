# CBOR decoder (RFC 8949). Common subset of MicroPython and CPython; handlers come from a
# table indexed by major type.
#
# Bad input never crashes, hangs or allocates without bound: every length is checked against
# the bytes that are left before anything is allocated, lengths and nesting have limits, and
# every failure is a CBORError whose message names the problem and ends "at byte N".
# Accepts any well-formed encoding (indefinite lengths, non-shortest arguments, all three float
# widths); refuses what is not well-formed or not valid (RFC 8949 sections 3, 5.3, 5.6):
# invalid UTF-8, bignums and epoch times with the wrong content, duplicate map keys.
import struct
import sys

from protocol.cbor_types import CBORError, Simple, Tag, Undefined

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


MAX_DEPTH = const(16)  # containers (arrays, maps, tags) nested deeper than this are refused
MAX_LEN = const(65536)  # longest string (bytes), array (items) or map (pairs) accepted
# A caller that knows its input (protocol.messages: a message kind) passes a smaller max_items
# for arrays and maps alone: a list of hundreds of one-byte items costs far more heap than its
# bytes (830 small integers: a 1,024-slot list, an 8 KB block), strings cost what they carry.

# MicroPython's str(b, "utf-8") lets surrogates and overlong forms through: check those itself.
_CHECK_UTF8 = sys.implementation.name == "micropython"

_MAJOR_NAMES = ("uint", "negint", "byte string", "text string", "array", "map", "tag", "simple")
_INF = float("inf")
_NAN = float("nan")


def _utf8_ok(d, p, q):
    """Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing past U+10FFFF."""
    while p < q:
        c = d[p]
        if c < 0x80:
            p += 1
            continue
        lo = 0x80
        hi = 0xBF
        if 0xC2 <= c <= 0xDF:
            n = 1
        elif c == 0xE0:
            n = 2
            lo = 0xA0
        elif 0xE1 <= c <= 0xEF:
            n = 2
            if c == 0xED:
                hi = 0x9F
        elif c == 0xF0:
            n = 3
            lo = 0x90
        elif 0xF1 <= c <= 0xF3:
            n = 3
        elif c == 0xF4:
            n = 3
            hi = 0x8F
        else:
            return False
        if p + n >= q:  # the sequence runs past the end of the string
            return False
        b = d[p + 1]
        if b < lo or b > hi:
            return False
        for i in range(p + 2, p + n + 1):
            b = d[i]
            if b < 0x80 or b > 0xBF:
                return False
        p += n + 1
    return True


def _half(h):
    """The float value of IEEE 754 half-precision bits h (RFC 8949 Appendix D)."""
    e = (h >> 10) & 0x1F
    m = h & 0x3FF
    if e == 0:
        v = m * 5.960464477539063e-08  # 2**-24
    elif e != 31:
        v = (m + 1024) * (2.0 ** (e - 25))
    elif m == 0:
        v = _INF
    else:
        v = _NAN
    return -v if h & 0x8000 else v


class TooManyItems(CBORError):
    """An array or map over the caller's max_items; .offset is where the container starts."""


class _Decoder:
    """One pass over one input. Keeps the position in self.pos; no per-item tuples."""

    def __init__(self, data, pos, max_depth, max_len, max_items):
        self.data = data
        self.pos = pos
        self.end = len(data)
        self.max_depth = max_depth
        self.max_len = max_len
        self.max_items = max_len if max_items is None else max_items

    def need(self, n):
        left = self.end - self.pos
        if n > left:
            raise CBORError(
                "truncated input: %d byte%s needed, %d left" % (n, "" if n == 1 else "s", left),
                self.pos,
            )

    def arg(self, ai, start):
        """The argument of the head that started at `start`, with additional information ai."""
        if ai < 24:
            return ai
        if ai > 27:
            if ai == 31:
                raise CBORError(
                    "indefinite length not allowed for major type %d (%s)"
                    % (self.data[start] >> 5, _MAJOR_NAMES[self.data[start] >> 5]),
                    start,
                )
            raise CBORError("reserved additional information %d" % ai, start)
        n = 1 << (ai - 24)
        p = self.pos
        if n > self.end - p:
            self.need(n)
        d = self.data
        if n == 1:
            v = d[p]
        elif n == 2:
            v = (d[p] << 8) | d[p + 1]
        else:
            v = int.from_bytes(d[p : p + n], "big")
        self.pos = p + n
        return v

    def length(self, ai, start, unit, limit):
        """A definite length, checked against `limit` and against the bytes left (each of the
        `unit`-byte elements needs at least one byte), before anything is allocated."""
        n = self.arg(ai, start)
        major = self.data[start] >> 5
        if n > limit:
            raise (TooManyItems if major >= 4 else CBORError)(
                "%s length %d over the limit %d" % (_MAJOR_NAMES[major], n, limit), start)
        left = self.end - self.pos
        if n * unit > left:
            raise CBORError(
                "%s length %d past the end of input (%d byte%s left)"
                % (_MAJOR_NAMES[major], n, left, "" if left == 1 else "s"),
                start,
            )
        return n

    def item(self, depth):
        d = self.data
        start = self.pos
        if start >= self.end:
            self.need(1)
        ib = d[start]
        self.pos = start + 1
        return _MAJOR[ib >> 5](self, ib & 0x1F, start, depth)

    # --- one handler per major type (the table _MAJOR below) ---

    def uint(self, ai, start, depth):
        return self.arg(ai, start)

    def negint(self, ai, start, depth):
        return -1 - self.arg(ai, start)

    def string(self, ai, start, depth):
        if ai == 31:
            return self.chunks(start)
        n = self.length(ai, start, 1, self.max_len)
        p = self.pos
        q = p + n
        self.pos = q
        s = self.data[p:q]
        if self.data[start] >> 5 == 2:
            return s if type(s) is bytes else bytes(s)
        return self.text(s, start)

    def text(self, s, start):
        try:
            t = str(s, "utf-8")
        except UnicodeError:
            raise CBORError("invalid UTF-8 in text string", start)
        if _CHECK_UTF8 and len(t) != len(s) and not _utf8_ok(s, 0, len(s)):
            raise CBORError("invalid UTF-8 in text string", start)
        return t

    def chunks(self, start):
        """An indefinite-length string: definite chunks of the same major type, then a break."""
        d = self.data
        major = d[start] >> 5
        parts = []
        total = 0
        while True:
            p = self.pos
            if p >= self.end:
                self.need(1)
            ib = d[p]
            if ib == 0xFF:
                self.pos = p + 1
                break
            if ib >> 5 != major or ib & 0x1F == 31:
                raise CBORError(
                    "chunk of an indefinite-length %s must be a definite-length %s"
                    % (_MAJOR_NAMES[major], _MAJOR_NAMES[major]),
                    p,
                )
            self.pos = p + 1
            n = self.length(ib & 0x1F, p, 1, self.max_len)
            total += n
            if total > self.max_len:
                raise CBORError(
                    "%s length %d over the limit %d" % (_MAJOR_NAMES[major], total, self.max_len),
                    start,
                )
            q = self.pos + n
            chunk = d[self.pos : q]
            self.pos = q
            parts.append(bytes(chunk) if major == 2 else self.text(chunk, p))
        return (b"" if major == 2 else "").join(parts)

    def deeper(self, depth, start):
        if depth >= self.max_depth:
            raise CBORError("nesting deeper than %d" % self.max_depth, start)

    def more(self, start, count):
        """In an indefinite-length array or map that began at `start` and holds `count` items:
        True if another item follows; False after consuming the break that ends it."""
        p = self.pos
        if p >= self.end:
            self.need(1)
        if self.data[p] == 0xFF:
            self.pos = p + 1
            return False
        if count >= self.max_items:
            raise TooManyItems(
                "%s length over the limit %d" % (_MAJOR_NAMES[self.data[start] >> 5], self.max_items),
                start,
            )
        return True

    def array(self, ai, start, depth):
        self.deeper(depth, start)
        depth += 1
        out = []
        if ai == 31:
            while self.more(start, len(out)):
                out.append(self.item(depth))
            return out
        for _ in range(self.length(ai, start, 1, self.max_items)):
            out.append(self.item(depth))
        return out

    def map(self, ai, start, depth):
        self.deeper(depth, start)
        depth += 1
        out = {}
        if ai == 31:
            while self.more(start, len(out)):
                self.pair(out, depth)
            return out
        for _ in range(self.length(ai, start, 2, self.max_items)):
            self.pair(out, depth)
        return out

    def pair(self, out, depth):
        kpos = self.pos
        k = self.item(depth)
        if type(k) is list or type(k) is dict:
            raise CBORError(
                "map key of type %s is not supported" % ("array" if type(k) is list else "map"),
                kpos,
            )
        try:
            # hash() first: MicroPython looks nothing up in an empty dict, so `k in out` alone
            # lets an unhashable key (a tag holding an array) through to `out[k] = ...`
            hash(k)
            dup = k in out
        except TypeError:
            raise CBORError("map key is not hashable", kpos)
        if dup:
            raise CBORError("duplicate map key %r" % (k,), kpos)
        out[k] = self.item(depth)

    def tag(self, ai, start, depth):
        t = self.arg(ai, start)
        self.deeper(depth, start)
        cpos = self.pos
        v = self.item(depth + 1)
        checker = _TAGS.get(t)
        if checker is None:
            return Tag(t, v)
        return checker(t, v, cpos)

    def simple(self, ai, start, depth):
        if ai < 20:
            return Simple(ai)
        if ai < 24:
            return _SIMPLE[ai - 20]
        p = self.pos
        d = self.data
        if ai == 24:
            self.need(1)
            v = d[p]
            self.pos = p + 1
            if v < 32:
                raise CBORError("simple value %d in the two-byte form" % v, start)
            return Simple(v)
        if ai == 25:
            self.need(2)
            self.pos = p + 2
            return _half((d[p] << 8) | d[p + 1])
        if ai == 26:
            self.need(4)
            self.pos = p + 4
            return struct.unpack_from(">f", d, p)[0]
        if ai == 27:
            self.need(8)
            self.pos = p + 8
            return struct.unpack_from(">d", d, p)[0]
        if ai == 31:
            raise CBORError("unexpected break code", start)
        raise CBORError("reserved additional information %d" % ai, start)


_MAJOR = (
    _Decoder.uint,
    _Decoder.negint,
    _Decoder.string,
    _Decoder.string,
    _Decoder.array,
    _Decoder.map,
    _Decoder.tag,
    _Decoder.simple,
)

_SIMPLE = (False, True, None, Undefined)


def _bignum(t, v, cpos):
    if type(v) is not bytes:
        raise CBORError("tag %d (bignum) content must be a byte string" % t, cpos)
    n = int.from_bytes(v, "big") if v else 0
    return n if t == 2 else -1 - n


def _epoch(t, v, cpos):
    if type(v) is bool or not (type(v) is int or type(v) is float):
        raise CBORError("tag 1 (epoch time) content must be a number", cpos)
    return Tag(1, v)


def _datetime(t, v, cpos):
    if type(v) is not str:
        raise CBORError("tag 0 (date/time) content must be a text string", cpos)
    return Tag(0, v)


# Tag number -> checker(tag, content, content_offset) returning the decoded value.
_TAGS = {0: _datetime, 1: _epoch, 2: _bignum, 3: _bignum}


def _decoder(data, pos, max_depth, max_len, max_items):
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CBORError("input must be bytes, not %s" % type(data).__name__)
    return _Decoder(data, pos, max_depth, max_len, max_items)


def loads(data, max_depth=MAX_DEPTH, max_len=MAX_LEN, max_items=None):
    """Decode exactly one CBOR item that fills `data` (bytes, bytearray or memoryview).
    max_len bounds strings (bytes), max_items arrays (items) and maps (pairs); None: max_len."""
    dec = _decoder(data, 0, max_depth, max_len, max_items)
    obj = dec.item(0)
    if dec.pos != dec.end:
        n = dec.end - dec.pos
        raise CBORError(
            "%d trailing byte%s after the item" % (n, "" if n == 1 else "s"), dec.pos
        )
    return obj


def loads_prefix(data, pos=0, max_depth=MAX_DEPTH, max_len=MAX_LEN, max_items=None):
    """Decode one item starting at `pos`; return (item, offset just past it). For streams."""
    dec = _decoder(data, pos, max_depth, max_len, max_items)
    obj = dec.item(0)
    return obj, dec.pos

# CoAP (RFC 7252) messages and errors for the firmware: the bottom of the stack.
#
# Layers, as aiocoap draws them (each is small here): this module is the message format
# (encode/decode, options) and the error classes; firmware/coapnet.py holds the message layer
# (IDs, CON retransmission, duplicate detection, piggy-backed and separate responses), the
# token layer (matching responses to requests) and the resource site (render_get/render_post).
#
# What this is not: a general CoAP library. No block-wise transfer (every gasguard message fits
# one datagram: protocol/coap_numbers.MAX_MESSAGE_SIZE), no observe, no proxying. Numbers come
# from protocol/coap_numbers.py, named as the IANA registry names them.
from protocol import coap_numbers as N

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# The most options Message.decode keeps. A gasguard message carries fewer than 10 (two or
# three Uri-Path segments, Content-Format, Accept, OSCORE, Echo, Max-Age); 24 leaves room for
# a general client's Uri-Query and ETags. Without a bound, one 1 KB datagram of empty options
# is 1,020 options: ~200 KB allocated, ~40 KB held, a MemoryError on a board (docs/fuzzing.md).
MAX_OPTIONS = const(24)


class Error(Exception):
    """Base of every CoAP error; a subclass with a `code` becomes a response with that code."""

    code = N.INTERNAL_SERVER_ERROR

    def __init__(self, message=""):
        super().__init__(message)
        self.message = message

    def payload(self):
        return (self.message or "").encode()


class BadRequest(Error):
    code = N.BAD_REQUEST


class NotFound(Error):
    code = N.NOT_FOUND


class BadOption(Error):
    code = N.BAD_OPTION


class MethodNotAllowed(Error):
    code = N.METHOD_NOT_ALLOWED


class UnsupportedContentFormat(Error):
    code = N.UNSUPPORTED_CONTENT_FORMAT


class InternalServerError(Error):
    code = N.INTERNAL_SERVER_ERROR


class ServiceUnavailable(Error):
    code = N.SERVICE_UNAVAILABLE


class UnparsableMessage(Error):
    """A datagram that is not a CoAP message; the message says why (never a response)."""


class RequestTimedOut(Error):
    """A CON request got no ACK after MAX_RETRANSMIT retransmissions (client side)."""


class ResetReceived(Error):
    """The peer answered our CON with RST (client side)."""


def _ext(v):
    # option delta/length nibble and its extension bytes (RFC 7252 s3.1)
    if v < 13:
        return v, b""
    if v < 269:
        return 13, bytes((v - 13,))
    v -= 269
    return 14, bytes((v >> 8, v & 0xFF))


def encode_uint(v):
    """Option uint: shortest big-endian form, zero is empty."""
    out = []
    while v:
        out.append(v & 0xFF)
        v >>= 8
    out.reverse()
    return bytes(out)


def decode_uint(b):
    v = 0
    for x in b:
        v = (v << 8) | x
    return v


class Message:
    """One CoAP message. `remote` is the peer's sockaddr in the board's form (managed by the
    endpoint, not encoded). Options are (number, bytes) pairs in the order added.
    `refused` is set by decode on a request it kept only in part (too many options): the
    request's `path` raises it, so the site answers with its code and no resource sees it."""

    def __init__(self, mtype=N.CON, code=N.EMPTY, mid=0, token=b"", payload=b"", path=None,
                 cf=None, remote=None):
        self.mtype = mtype
        self.code = code
        self.mid = mid
        self.token = token
        self.payload = payload
        self.options = []
        self.remote = remote
        self.refused = None
        if path:
            for seg in path:
                self.options.append((N.URI_PATH, seg.encode()))
        if cf is not None:
            self.options.append((N.CONTENT_FORMAT, encode_uint(cf)))

    # -- options -------------------------------------------------------------------------
    def add_option(self, number, value):
        if isinstance(value, int):
            value = encode_uint(value)
        elif isinstance(value, str):
            value = value.encode()
        self.options.append((number, value))

    def option(self, number):
        for n, v in self.options:
            if n == number:
                return v
        return None

    @property
    def path(self):
        """The Uri-Path segments as str. BadOption for a request decode refused; BadRequest
        for a segment that is not UTF-8 (RFC 7252 s5.10.1: Uri-Path is a string)."""
        if self.refused is not None:
            raise self.refused
        try:
            return tuple(v.decode() for n, v in self.options if n == N.URI_PATH)
        except UnicodeError:
            raise BadRequest("Uri-Path: not UTF-8")

    @property
    def cf(self):
        v = self.option(N.CONTENT_FORMAT)
        return None if v is None else decode_uint(v)

    def is_request(self):
        return 1 <= self.code <= 31

    def is_response(self):
        return self.code >= 64

    # -- bytes ---------------------------------------------------------------------------
    def encode(self):
        tkl = len(self.token)
        if tkl > 8:
            raise ValueError("token: expected at most 8 bytes, got %d" % tkl)
        out = bytearray((0x40 | (self.mtype << 4) | tkl, self.code, self.mid >> 8,
                         self.mid & 0xFF))
        out.extend(self.token)
        # options in number order, keeping the order of repeated ones (no stable sort assumed)
        keyed = [(n, i) for i, (n, _) in enumerate(self.options)]
        keyed.sort()
        prev = 0
        for n, i in keyed:
            value = self.options[i][1]
            d, dext = _ext(n - prev)
            ln, lext = _ext(len(value))
            out.append((d << 4) | ln)
            out.extend(dext)
            out.extend(lext)
            out.extend(value)
            prev = n
        if self.payload:
            out.append(0xFF)
            out.extend(self.payload)
        return bytes(out)

    @classmethod
    def decode(cls, data, remote=None):
        n = len(data)
        if n < 4:
            raise UnparsableMessage("message: expected at least 4 bytes, got %d" % n)
        b0 = data[0]
        if b0 >> 6 != 1:
            raise UnparsableMessage("message: expected version 1, got %d" % (b0 >> 6))
        tkl = b0 & 0x0F
        if tkl > 8:
            raise UnparsableMessage("message: token length %d is reserved" % tkl)
        if n < 4 + tkl:
            raise UnparsableMessage("message: token of %d bytes cut short" % tkl)
        m = cls((b0 >> 4) & 3, data[1], (data[2] << 8) | data[3], bytes(data[4:4 + tkl]))
        m.remote = remote
        i = 4 + tkl
        num = 0
        while i < n:
            b = data[i]
            i += 1
            if b == 0xFF:
                if i >= n:
                    raise UnparsableMessage("message: payload marker with no payload")
                m.payload = bytes(data[i:])
                break
            d = b >> 4
            ln = b & 0x0F
            vals = [d, ln]
            for j in range(2):
                v = vals[j]
                if v == 13:
                    if i >= n:
                        raise UnparsableMessage("message: option header cut short")
                    v = 13 + data[i]
                    i += 1
                elif v == 14:
                    if i + 1 >= n:
                        raise UnparsableMessage("message: option header cut short")
                    v = 269 + ((data[i] << 8) | data[i + 1])
                    i += 2
                elif v == 15:
                    raise UnparsableMessage("message: option nibble 15 is reserved")
                vals[j] = v
            num += vals[0]
            if len(m.options) == MAX_OPTIONS:
                # keep nothing more of it: a request is answered 4.02 (with its token and
                # MID), anything else is dropped or reset
                if not m.is_request():
                    raise UnparsableMessage("message: more than %d options" % MAX_OPTIONS)
                m.refused = BadOption("message: more than %d options" % MAX_OPTIONS)
                break
            if i + vals[1] > n:
                raise UnparsableMessage("message: option %d value cut short" % num)
            m.options.append((num, bytes(data[i:i + vals[1]])))
            i += vals[1]
        if m.code == N.EMPTY and (tkl or len(m.options) or m.payload):
            raise UnparsableMessage("message: an empty message must be 4 bytes")
        return m

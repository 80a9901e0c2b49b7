"""Just enough CoAP (RFC 7252) framing for the load generator: build requests, read replies.

Why not aiocoap's client: the generator must stay far below the server's cost per message, or it
measures itself. aiocoap spends hundreds of microseconds of Python per request; here a request is
a pre-encoded tail (options and payload) behind a 4-byte header and a token, and a reply is read
from its first bytes only (type, code, message ID, token). What this module is *not*: a CoAP
stack. No block-wise, no observe, no option parsing beyond skipping options to reach the payload.
"""

from __future__ import annotations

import struct

# Message types (RFC 7252 §3).
CON = 0
NON = 1
ACK = 2
RST = 3

# Codes as class.detail bytes (RFC 7252 §12.1).
EMPTY = 0x00
GET = 0x01
POST = 0x02
CHANGED = 0x44  # 2.04

# Option numbers (RFC 7252 §12.2).
OPT_URI_PATH = 11
OPT_CONTENT_FORMAT = 12

# Content-formats (IANA CoAP Content-Formats registry).
CF_CBOR = 60
CF_SENML_CBOR = 112

# RFC 7252 §4.8 transmission parameters (defaults).
ACK_TIMEOUT = 2.0
ACK_RANDOM_FACTOR = 1.5
MAX_RETRANSMIT = 4
EXCHANGE_LIFETIME = 247.0

_HEADER = struct.Struct("!BBH")


class WireError(ValueError):
    """A datagram that is not a CoAP message we can read."""


def code_text(code: int) -> str:
    """`0x44` -> `"2.04"`, the way people write CoAP codes."""
    return "%d.%02d" % (code >> 5, code & 0x1F)


def _option_nibble(value: int) -> tuple[int, bytes]:
    if value < 13:
        return value, b""
    if value < 269:
        return 13, bytes((value - 13,))
    if value < 65805:
        return 14, struct.pack("!H", value - 269)
    raise WireError("option delta/length %d is too large" % value)


def encode_uint(value: int) -> bytes:
    """A CoAP uint option value: big-endian, no leading zero bytes (0 is empty)."""
    if value < 0:
        raise WireError("uint option value must be >= 0, got %d" % value)
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def encode_options(options: list[tuple[int, bytes]]) -> bytes:
    """Options in number order (stable for repeats such as Uri-Path), delta-encoded."""
    out = bytearray()
    last = 0
    for number, value in sorted(options, key=lambda o: o[0]):
        delta_n, delta_ext = _option_nibble(number - last)
        len_n, len_ext = _option_nibble(len(value))
        out.append((delta_n << 4) | len_n)
        out += delta_ext
        out += len_ext
        out += value
        last = number
    return bytes(out)


def request_tail(path: str, payload: bytes = b"", content_format: int | None = None) -> bytes:
    """Everything after the token of a request to `path` ("/gg/hb"): options, marker, payload.

    Built once per device and message; sending then only prepends header and token."""
    options = [(OPT_URI_PATH, seg.encode()) for seg in path.strip("/").split("/") if seg]
    if content_format is not None:
        options.append((OPT_CONTENT_FORMAT, encode_uint(content_format)))
    tail = encode_options(options)
    if payload:
        tail += b"\xff" + payload
    return tail


def header(mtype: int, token_len: int, code: int, mid: int) -> bytes:
    """The fixed 4-byte header: version 1, type, token length, code, message ID."""
    return _HEADER.pack(0x40 | (mtype << 4) | token_len, code, mid)


def parse_head(data: bytes) -> tuple[int, int, int, bytes]:
    """(type, code, message ID, token) of a datagram, without touching its options."""
    if len(data) < 4:
        raise WireError("datagram of %d bytes is shorter than a CoAP header" % len(data))
    first, code, mid = _HEADER.unpack_from(data)
    if first >> 6 != 1:
        raise WireError("CoAP version %d, expected 1" % (first >> 6))
    tkl = first & 0x0F
    if tkl > 8 or len(data) < 4 + tkl:
        raise WireError("token length %d does not fit the datagram" % tkl)
    return (first >> 4) & 0x03, code, mid, data[4 : 4 + tkl]


def payload_of(data: bytes) -> bytes:
    """The payload of a datagram: skip header, token and options (RFC 7252 §3.1)."""
    pos = 4 + (data[0] & 0x0F)
    end = len(data)
    while pos < end:
        byte = data[pos]
        if byte == 0xFF:
            return data[pos + 1 :]
        pos += 1
        for nibble in (byte >> 4, byte & 0x0F):
            if nibble == 13:
                pos += 1
            elif nibble == 14:
                pos += 2
            elif nibble == 15:
                raise WireError("reserved option nibble 15 at byte %d" % (pos - 1))
        length = byte & 0x0F
        if length == 13:
            length = data[pos - 1] + 13
        elif length == 14:
            length = struct.unpack_from("!H", data, pos - 2)[0] + 269
        pos += length
    return b""

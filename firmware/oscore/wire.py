# OSCORE's byte formats (RFC 8613), apart from the cipher:
#
# - the OSCORE option value (s6.1): flag byte (n = Partial IV length in bits 0-2, k = kid
#   present 0x08, h = kid context present 0x10, bits 5-7 reserved), Partial IV, s + kid
#   context, kid (the rest);
# - the plaintext (s5.3): the inner code, the Class E options in CoAP encoding (RFC 7252 s3.1),
#   and 0xFF + payload when there is one;
# - the AAD (s5.4): the CBOR Enc_structure ["Encrypt0", h'', external_aad] with
#   external_aad = bstr .cbor [oscore_version 1, [alg 10], request_kid, request_piv, h''];
#   written by hand (it is per message and tiny; tests check it against protocol.cbor);
# - the `info` array of the key derivation (s3.2.1), via protocol.cbor (once per context).
#
# The plaintext codec is our own rather than firmware/coap.Message's: it writes straight into
# the buffer the cipher seals in place, with room left for the tag, and reads from the buffer
# the cipher opened in place, so a message costs one buffer, not three.
from firmware.oscore.errors import BadOption, DecodeFailed

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


OPTION_OSCORE = const(9)
# The most options an inner message may carry: firmware.coap.MAX_OPTIONS (24), for the same
# reason (a 1 KB flood of empty options allocated ~170 KB); kept here, not imported, so the
# OSCORE package stands alone. A test checks the two agree.
MAX_OPTIONS = const(24)
OPTION_ECHO = const(252)  # RFC 9175
ALG_AES_CCM_16_64_128 = const(10)

_FLAG_N = const(0x07)
_FLAG_K = const(0x08)
_FLAG_H = const(0x10)
_FLAG_RESERVED = const(0xE0)

# Class U options (s4.1): they stay outside, in the clear. Everything else a gasguard message
# carries (Uri-Path, Content-Format, Uri-Query, Accept, Echo, ...) is Class E and encrypted.
CLASS_U = (3, 7, 35, 39)  # Uri-Host, Uri-Port, Proxy-Uri, Proxy-Scheme


# -- the OSCORE option value -------------------------------------------------------------------
def encode_option(piv, kid, kid_context):
    """The OSCORE option value (a bytearray); None leaves a field out. All flags zero -> b""
    (s6.1)."""
    flags = 0
    size = 0
    if piv is not None:
        if not 1 <= len(piv) <= 5:
            raise ValueError("Partial IV: expected 1..5 bytes, got %d" % len(piv))
        flags |= len(piv)
        size += len(piv)
    if kid_context is not None:
        if len(kid_context) > 255:
            raise ValueError("kid context: expected at most 255 bytes, got %d"
                             % len(kid_context))
        flags |= _FLAG_H
        size += 1 + len(kid_context)
    if kid is not None:
        flags |= _FLAG_K
        size += len(kid)
    if not flags:
        return b""
    out = bytearray(1 + size)
    out[0] = flags
    i = 1
    if piv is not None:
        out[i:i + len(piv)] = piv
        i += len(piv)
    if kid_context is not None:
        out[i] = len(kid_context)
        out[i + 1:i + 1 + len(kid_context)] = kid_context
        i += 1 + len(kid_context)
    if kid is not None:
        out[i:] = kid
    return out


def decode_option(value):
    """(partial_iv, kid, kid_context) from an OSCORE option value; None for an absent field.
    BadOption names what is wrong."""
    n = len(value)
    if n == 0:
        return None, None, None
    flags = value[0]
    if flags == 0:
        raise BadOption("OSCORE option: flags are all zero but the value is not empty")
    if flags & _FLAG_RESERVED:
        raise BadOption("OSCORE option: reserved flag bits set (0x%02x)" % flags)
    pl = flags & _FLAG_N
    if pl > 5:
        raise BadOption("OSCORE option: Partial IV length %d is reserved" % pl)
    i = 1
    piv = None
    if pl:
        if i + pl > n:
            raise BadOption("OSCORE option: Partial IV of %d bytes cut short" % pl)
        piv = bytes(value[i:i + pl])
        i += pl
    kid_context = None
    if flags & _FLAG_H:
        if i >= n:
            raise BadOption("OSCORE option: kid context length missing")
        s = value[i]
        i += 1
        if i + s > n:
            raise BadOption("OSCORE option: kid context of %d bytes cut short" % s)
        kid_context = bytes(value[i:i + s])
        i += s
    kid = None
    if flags & _FLAG_K:
        kid = bytes(value[i:n])
    elif i != n:
        raise BadOption("OSCORE option: %d bytes left over after the fields its flags announce"
                        % (n - i))
    return piv, kid, kid_context


def piv_bytes(seq):
    """Partial IV of a sequence number: big-endian, shortest form, 0 -> b"\\x00"."""
    n = 1
    while seq >> (8 * n):
        n += 1
    return seq.to_bytes(n, "big")


def piv_int(piv):
    v = 0
    for b in piv:
        v = (v << 8) | b
    return v


# -- the plaintext -----------------------------------------------------------------------------
def _ext_len(v):
    return 0 if v < 13 else (1 if v < 269 else 2)


def _nibble(v):
    return v if v < 13 else (13 if v < 269 else 14)


def _put_ext(buf, i, v):
    # the extension bytes of one option header nibble; returns the next index
    if v >= 269:
        v -= 269
        buf[i] = v >> 8
        buf[i + 1] = v & 0xFF
        return i + 2
    if v >= 13:
        buf[i] = v - 13
        return i + 1
    return i


def _ordered(options):
    # options sorted by number, repeated ones in their given order (MicroPython's sort is not
    # stable, so sort (number, index) pairs, and only when they are not in order already)
    prev = -1
    for num, _ in options:
        if num < prev:
            keyed = [(options[i][0], i) for i in range(len(options))]
            keyed.sort()
            return [options[i] for _, i in keyed]
        prev = num
    return options


def plaintext_into(code, options, payload, room):
    """(buf, n): the plaintext in buf[0:n], with `room` spare bytes after it for the tag."""
    options = _ordered(options)
    size = 1
    prev = 0
    for num, value in options:
        if num == OPTION_OSCORE:
            raise ValueError("plaintext: an OSCORE option cannot be protected by OSCORE")
        ln = len(value)
        size += 1 + _ext_len(num - prev) + _ext_len(ln) + ln
        prev = num
    if payload:
        size += 1 + len(payload)
    buf = bytearray(size + room)
    buf[0] = code
    i = 1
    prev = 0
    for num, value in options:
        d = num - prev
        ln = len(value)
        buf[i] = (_nibble(d) << 4) | _nibble(ln)
        i = _put_ext(buf, _put_ext(buf, i + 1, d), ln)
        buf[i:i + ln] = value
        i += ln
        prev = num
    if payload:
        buf[i] = 0xFF
        buf[i + 1:i + 1 + len(payload)] = payload
    return buf, size


def _ext_field(buf, i, n, v, what):
    # (value, next index) of one option header nibble and its extension bytes
    if v < 13:
        return v, i
    if v == 13:
        if i >= n:
            raise DecodeFailed("plaintext: option %s cut short" % what)
        return 13 + buf[i], i + 1
    if v == 14:
        if i + 1 >= n:
            raise DecodeFailed("plaintext: option %s cut short" % what)
        return 269 + ((buf[i] << 8) | buf[i + 1]), i + 2
    raise DecodeFailed("plaintext: option %s nibble 15 is reserved" % what)


def decode_plaintext(buf, n):
    """(code, [(number, value), ...], payload) from buf[0:n]; DecodeFailed if malformed or
    holding more than MAX_OPTIONS options (the inner request is refused whole,
    4.00, before the list grows with the input)."""
    if n < 1:
        raise DecodeFailed("plaintext: empty, expected at least the code byte")
    code = buf[0]
    options = []
    payload = b""
    i = 1
    num = 0
    while i < n:
        b = buf[i]
        i += 1
        if b == 0xFF:
            if i >= n:
                raise DecodeFailed("plaintext: payload marker with no payload")
            payload = bytes(buf[i:n])
            break
        d, i = _ext_field(buf, i, n, b >> 4, "delta")
        ln, i = _ext_field(buf, i, n, b & 0x0F, "length")
        num += d
        if len(options) == MAX_OPTIONS:
            raise DecodeFailed("plaintext: more than %d options" % MAX_OPTIONS)
        if i + ln > n:
            raise DecodeFailed("plaintext: option %d value of %d bytes cut short" % (num, ln))
        options.append((num, bytes(buf[i:i + ln])))
        i += ln
    return code, options, payload


def split_options(options):
    """(inner, outer) of a plain message's (number, value) options: Class U ones stay outer."""
    inner = []
    outer = []
    for opt in options:
        if opt[0] == OPTION_OSCORE:
            raise ValueError("options: the message already carries an OSCORE option")
        (outer if opt[0] in CLASS_U else inner).append(opt)
    return inner, outer


# -- CBOR structures ---------------------------------------------------------------------------
AAD_MAX = const(40)  # Enc_structure with a 7-byte kid and a 5-byte Partial IV: 31 bytes


def _put_bstr(out, i, b):
    n = len(b)
    if n < 24:
        out[i] = 0x40 | n
        i += 1
    else:  # never for OSCORE's <= 7-byte kids; kept so the function is total
        out[i] = 0x58
        out[i + 1] = n
        i += 2
    for j in range(n):
        out[i + j] = b[j]
    return i + n


def aad_into(out, request_kid, request_piv):
    """Write the Enc_structure (s5.4) for AES-CCM-16-64-128 with no Class I options into
    `out` (AAD_MAX bytes or more); returns its length. No allocation."""
    if len(request_kid) > 7 or len(request_piv) > 5:
        raise ValueError("AAD: kid of %d bytes or Partial IV of %d bytes too long"
                         % (len(request_kid), len(request_piv)))
    ext_len = 4 + 1 + len(request_kid) + 1 + len(request_piv) + 1
    i = 0
    for b in b"\x83\x68Encrypt0\x40":
        out[i] = b
        i += 1
    out[i] = 0x40 | ext_len  # bstr header of external_aad (< 24 bytes)
    out[i + 1] = 0x85  # [oscore_version, algorithms, request_kid, request_piv, options]
    out[i + 2] = 0x01
    out[i + 3] = 0x81
    out[i + 4] = ALG_AES_CCM_16_64_128
    i = _put_bstr(out, i + 5, request_kid)
    i = _put_bstr(out, i, request_piv)
    out[i] = 0x40  # no Class I options
    return i + 1


def aad(request_kid, request_piv):
    """The Enc_structure as a new bytearray (tests and tools; the context uses aad_into)."""
    out = bytearray(AAD_MAX)
    return out[0:aad_into(out, request_kid, request_piv)]


def info(id_, id_context, kind, length):
    """HKDF `info` (s3.2.1): [id, id_context or null, alg_aead, type, L] as CBOR."""
    from protocol import cbor

    return cbor.dumps([id_, id_context, ALG_AES_CCM_16_64_128, kind, length])

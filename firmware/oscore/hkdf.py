# HMAC-SHA-256 (RFC 2104) and HKDF-SHA-256 (RFC 5869) on `hashlib.sha256`, which is all that
# MicroPython's hashlib offers (no hmac module, no hash.copy()). OSCORE uses them only when a
# security context is derived (at boot, or after re-provisioning), never per message, so the
# code favours being obviously right over being fast.
import hashlib

_BLOCK = 64  # SHA-256 block size in bytes
_HASH_LEN = 32


def hmac_sha256(key, msg):
    """HMAC-SHA-256(key, msg) -> 32 bytes."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    k = bytearray(_BLOCK)
    k[0:len(key)] = key
    for i in range(_BLOCK):
        k[i] ^= 0x36
    inner = hashlib.sha256(k)
    inner.update(msg)
    ih = inner.digest()
    for i in range(_BLOCK):
        k[i] ^= 0x36 ^ 0x5C
    outer = hashlib.sha256(k)
    outer.update(ih)
    return outer.digest()


def extract(salt, ikm):
    """HKDF-Extract: PRK = HMAC(salt, IKM); an empty or None salt is 32 zero bytes."""
    if not salt:
        salt = bytes(_HASH_LEN)
    return hmac_sha256(salt, ikm)


def expand(prk, info, length):
    """HKDF-Expand: the first `length` bytes of T(1) | T(2) | ..."""
    if length > 255 * _HASH_LEN:
        raise ValueError("HKDF length: expected at most %d, got %d" % (255 * _HASH_LEN, length))
    out = bytearray()
    t = b""
    i = 1
    while len(out) < length:
        msg = bytearray(t)
        msg.extend(info)
        msg.append(i)
        t = hmac_sha256(prk, msg)
        out.extend(t)
        i += 1
    return bytes(out[0:length])


def hkdf(salt, ikm, info, length):
    """HKDF-SHA-256(salt, IKM, info, L)."""
    return expand(extract(salt, ikm), info, length)

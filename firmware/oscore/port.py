# The two things OSCORE needs from the interpreter, in one place: AES-128 in ECB mode and
# random bytes. Everything else in firmware/oscore/ is the same code on both interpreters.
#
# - MicroPython: `cryptolib.aes(key, 1)` (mode 1 = ECB). The ESP32 port offers ECB and CBC
#   only, no CTR and no AEAD, so AES-CCM is built on ECB (firmware/oscore/ccm.py).
# - CPython (host tests, the fleet's cross-checks): the `cryptography` package's AES-ECB behind
#   the same two-call interface, so the firmware module under test is the one that ships.
#
# The interface is the cryptolib one: `aes_ecb(key).encrypt(src, dst)` encrypts whole 16-byte
# blocks of `src` into the caller's buffer `dst` (no allocation on MicroPython).
import os

try:
    import cryptolib

    def aes_ecb(key):
        """An AES-ECB encryptor for `key` (16 bytes): `.encrypt(src, dst)`."""
        return cryptolib.aes(key, 1)

except ImportError:  # CPython
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    class _EcbShim:
        """cryptolib.aes(key, 1) on top of `cryptography` (host only)."""

        def __init__(self, key):
            self._enc = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor()

        def encrypt(self, src, dst=None):
            out = self._enc.update(bytes(src))
            if dst is None:
                return out
            dst[0:len(out)] = out
            return None

    def aes_ecb(key):
        """An AES-ECB encryptor for `key` (16 bytes): `.encrypt(src, dst)`."""
        return _EcbShim(key)


def urandom(n):
    """n random bytes (os.urandom exists on ESP32, the Unix port and CPython)."""
    return os.urandom(n)

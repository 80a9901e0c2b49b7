# AES-CCM (RFC 3610) on AES-ECB: what OSCORE's COSE algorithm 10, AES-CCM-16-64-128, needs
# (16-byte key, 13-byte nonce so L = 2, 8-byte tag M = 8), on a chip whose crypto engine only
# offers ECB and CBC.
#
# Design:
# - One AES-ECB object per key, made once (port.aes_ecb); every block goes through
#   `encrypt(src, dst)` into buffers this object owns, so sealing or opening a message
#   allocates nothing but the output buffer the caller asked for (and nothing at all with
#   `seal_into`/`open_into`, which work in place).
# - CBC-MAC over B0 | len(a) | a | pad | m | pad, then CTR with A_i; the tag is T xor S_0.
#   Zero padding costs nothing: a partial block is XORed into the MAC state and encrypted as
#   it is, which is the same as XORing zeros.
# - Opening decrypts in place, recomputes the tag and compares it in constant time (every
#   byte, one OR-accumulator); on a mismatch the plaintext is wiped before the error is raised.
#
# Any nonce length 7..13 (L = 15 - nonce length) and any even tag length 4..16 work; the
# RFC 3610 packet vectors (M = 8 and M = 10) are the tests.
from firmware.oscore import port
from firmware.oscore.errors import DecryptionFailed


class Ccm:
    """AES-CCM with one key. Not re-entrant: one message at a time per object."""

    def __init__(self, key, tag_len=8):
        if len(key) != 16:
            raise ValueError("AES-CCM key: expected 16 bytes, got %d" % len(key))
        if tag_len < 4 or tag_len > 16 or tag_len & 1:
            raise ValueError("AES-CCM tag length: expected 4, 6, ..., 16, got %d" % tag_len)
        self.tag_len = tag_len
        self._aes = port.aes_ecb(key)
        self._x = bytearray(16)  # CBC-MAC state
        self._t = bytearray(16)  # scratch: next MAC state / keystream block
        self._a = bytearray(16)  # CTR counter block A_i
        self._s0 = bytearray(16)  # S_0, masks the tag
        self._p = 0  # bytes XORed into the current MAC block

    # -- CBC-MAC ---------------------------------------------------------------------------
    def _mac_block(self):
        # X_{i+1} = E(X_i xor B_i): the XOR is already in _x; encrypt and swap buffers
        x = self._x
        t = self._t
        self._aes.encrypt(x, t)
        self._x = t
        self._t = x
        self._p = 0

    def _mac_feed(self, src, start, end):
        x = self._x
        p = self._p
        i = start
        while i < end:
            x[p] ^= src[i]
            i += 1
            p += 1
            if p == 16:
                self._p = 16
                self._mac_block()
                x = self._x
                p = 0
        self._p = p

    def _mac_byte(self, b):
        self._x[self._p] ^= b
        self._p += 1
        if self._p == 16:
            self._mac_block()

    def _mac_flush(self):
        # zero padding to the block boundary: encrypt the partial block as it is
        if self._p:
            self._mac_block()

    def _start(self, nonce, aad, alen, mlen):
        nl = len(nonce)
        if nl < 7 or nl > 13:
            raise ValueError("AES-CCM nonce: expected 7..13 bytes, got %d" % nl)
        ll = 15 - nl
        if ll < 8 and mlen >> (8 * ll):
            raise ValueError("AES-CCM message: %d bytes do not fit L=%d" % (mlen, ll))
        x = self._x
        for i in range(16):
            x[i] = 0
        self._p = 0
        # B0 = flags | nonce | l(m)
        self._mac_byte((0x40 if alen else 0) | (((self.tag_len - 2) >> 1) << 3) | (ll - 1))
        self._mac_feed(nonce, 0, nl)
        for i in range(ll - 1, -1, -1):
            self._mac_byte((mlen >> (8 * i)) & 0xFF)
        if alen:
            if alen < 0xFF00:
                self._mac_byte(alen >> 8)
                self._mac_byte(alen & 0xFF)
            else:
                self._mac_byte(0xFF)
                self._mac_byte(0xFE)
                for i in (24, 16, 8, 0):
                    self._mac_byte((alen >> i) & 0xFF)
            self._mac_feed(aad, 0, alen)
            self._mac_flush()
        # A_0 = flags' | nonce | 0...0, and S_0 = E(A_0)
        a = self._a
        a[0] = ll - 1
        for i in range(nl):
            a[1 + i] = nonce[i]
        for i in range(1 + nl, 16):
            a[i] = 0
        self._aes.encrypt(a, self._s0)

    def _ctr(self, buf, n):
        # buf[0:n] ^= S_1 | S_2 | ...
        a = self._a
        t = self._t
        aes = self._aes
        off = 0
        while off < n:
            j = 15  # increment the counter field (big-endian, last L bytes)
            while True:
                v = a[j] + 1
                if v < 256:
                    a[j] = v
                    break
                a[j] = 0
                j -= 1
            aes.encrypt(a, t)
            k = n - off
            if k > 16:
                k = 16
            for i in range(k):
                buf[off + i] ^= t[i]
            off += k

    # -- sealing and opening ---------------------------------------------------------------
    def seal_into(self, nonce, aad, buf, n, alen=-1):
        """Encrypt buf[0:n] in place and write the tag to buf[n:n+tag_len]. The AAD is
        aad[0:alen] (all of it when alen < 0), so a reused AAD buffer needs no slicing."""
        m = self.tag_len
        if len(buf) < n + m:
            raise ValueError("AES-CCM buffer: expected at least %d bytes, got %d" % (n + m,
                                                                                   len(buf)))
        self._start(nonce, aad, len(aad) if alen < 0 else alen, n)
        self._mac_feed(buf, 0, n)
        self._mac_flush()
        self._ctr(buf, n)
        x = self._x
        s0 = self._s0
        for i in range(m):
            buf[n + i] = x[i] ^ s0[i]

    def open_into(self, nonce, aad, buf, n, alen=-1):
        """buf[0:n] is ciphertext, buf[n:n+tag_len] the tag: decrypt in place, or wipe
        buf[0:n] and raise DecryptionFailed when the tag does not verify. AAD as seal_into."""
        m = self.tag_len
        if len(buf) < n + m:
            raise DecryptionFailed("ciphertext of %d bytes is shorter than the %d-byte tag"
                                   % (len(buf), m))
        self._start(nonce, aad, len(aad) if alen < 0 else alen, n)
        self._ctr(buf, n)
        self._mac_feed(buf, 0, n)
        self._mac_flush()
        x = self._x
        s0 = self._s0
        diff = 0
        for i in range(m):  # constant time: every byte, no early exit
            diff |= x[i] ^ s0[i] ^ buf[n + i]
        if diff:
            for i in range(n):
                buf[i] = 0
            raise DecryptionFailed("AES-CCM tag mismatch")

    def encrypt(self, nonce, aad, plaintext):
        """ciphertext | tag as a new bytearray."""
        n = len(plaintext)
        out = bytearray(n + self.tag_len)
        out[0:n] = plaintext
        self.seal_into(nonce, aad, out, n)
        return out

    def decrypt(self, nonce, aad, data):
        """The plaintext of ciphertext | tag as a new bytearray, or DecryptionFailed."""
        n = len(data) - self.tag_len
        if n < 0:
            raise DecryptionFailed("ciphertext of %d bytes is shorter than the %d-byte tag"
                                   % (len(data), self.tag_len))
        buf = bytearray(data)
        self.open_into(nonce, aad, buf, n)
        return buf[0:n]

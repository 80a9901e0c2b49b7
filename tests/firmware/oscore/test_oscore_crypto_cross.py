"""CPython only: the firmware's AES-CCM, HMAC and HKDF against `cryptography` and the standard
library on random inputs (any length, either side of block boundaries)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.oscore import hkdf
from firmware.oscore.ccm import Ccm
from firmware.oscore.errors import DecryptionFailed


@settings(max_examples=300, deadline=None)
@given(key=st.binary(min_size=16, max_size=16), nonce_len=st.integers(7, 13),
       tag_len=st.sampled_from([4, 6, 8, 10, 12, 14, 16]), data=st.data(),
       aad=st.binary(max_size=70), pt=st.binary(max_size=300))
def test_ccm__matches_cryptography(key, nonce_len, tag_len, data, aad, pt):
    nonce = data.draw(st.binary(min_size=nonce_len, max_size=nonce_len))
    want = AESCCM(key, tag_length=tag_len).encrypt(nonce, pt, aad)
    ours = Ccm(key, tag_len)
    assert bytes(ours.encrypt(nonce, aad, pt)) == want
    assert bytes(ours.decrypt(nonce, aad, want)) == pt
    if want:
        bad = bytearray(want)
        bad[data.draw(st.integers(0, len(bad) - 1))] ^= 0x40
        with pytest.raises(DecryptionFailed):
            ours.decrypt(nonce, aad, bytes(bad))


def test_ccm__long_aad_uses_the_six_byte_length_form():
    key, nonce = bytes(range(16)), bytes(13)
    aad = bytes(0xFF00 + 3)
    assert bytes(Ccm(key).encrypt(nonce, aad, b"hi")) == AESCCM(key, 8).encrypt(nonce, b"hi", aad)


@settings(max_examples=200, deadline=None)
@given(key=st.binary(max_size=200), msg=st.binary(max_size=300))
def test_hmac__matches_stdlib(key, msg):
    assert hkdf.hmac_sha256(key, msg) == hmac.new(key, msg, hashlib.sha256).digest()


@settings(max_examples=200, deadline=None)
@given(salt=st.binary(max_size=80), ikm=st.binary(min_size=1, max_size=80),
       info=st.binary(max_size=80), n=st.integers(1, 255 * 32))
def test_hkdf__matches_cryptography(salt, ikm, info, n):
    want = HKDF(algorithm=hashes.SHA256(), length=n, salt=salt or None, info=info).derive(ikm)
    assert hkdf.hkdf(salt, ikm, info, n) == want

# runs-on: micropython cpython
"""AES-CCM on AES-ECB against the RFC 3610 packet vectors (L=2; M=8 as OSCORE uses, and M=10),
tag checking in constant time, wiping on failure, and the parameter errors."""
from firmware.oscore.ccm import Ccm
from firmware.oscore.errors import DecryptionFailed
from oscore_helpers import h, hx, raises

K1 = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
K2 = "d7828d13b2b0bdc325a76236df93cc6b"

# RFC 3610 section 8: (number, key, nonce, aad, plaintext, ciphertext | tag, M)
PACKETS = (
    (1, K1, "00000003020100a0a1a2a3a4a5", "0001020304050607",
     "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e",
     "588c979a61c663d2f066d0c2c0f989806d5f6b61dac38417e8d12cfdf926e0", 8),
    (2, K1, "00000004030201a0a1a2a3a4a5", "0001020304050607",
     "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "72c91a36e135f8cf291ca894085c87e3cc15c439c9e43a3ba091d56e10400916", 8),
    (3, K1, "00000005040302a0a1a2a3a4a5", "0001020304050607",
     "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
     "51b1e5f44a197d1da46b0f8e2d282ae871e838bb64da8596574adaa76fbd9fb0c5", 8),
    (8, K1, "0000000a090807a0a1a2a3a4a5", "0001020304050607",
     "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
     "7b75399ac0831dd2f0bbd75879a2fd8f6cae6b6cd9b7db24c17b4433f434963f34b4", 10),
    (13, K2, "00412b4ea9cdbe3c9696766cfa", "0be1a88bace018b1",
     "08e8cf97d820ea258460e96ad9cf5289054d895ceac47c",
     "4cb97f86a2a4689a877947ab8091ef5386a6ffbdd080f8e78cf7cb0cddd7b3", 8),
    (16, K2, "00764c63b8058e3c9696766cfa", "d0d0735c531e1becf049c244",
     "12daac5630efa5396f770ce1a66b21f7b2101c",
     "14d253c3967b70609b7cbb7c499160283245269a6f49975bcadeaf", 8),
    (18, K2, "00d560912d3f703c9696766cfa", "cd9044d2b71fdb8120ea60c0",
     "6435acbafb11a82e2f071d7ca4a5ebd93a803ba87f",
     "009769ecabdf48625594c59251e6035722675e04c847099e5ae0704551", 8),
    (22, K2, "005b8ccbcd9af83c9696766cfa", "ec46bb63b02520c33c49fd70",
     "b96b49e21d621741632875db7f6c9243d2d7c2",
     "31d750a09da3ed7fddd49a2032aabf17ec8ebf7d22c8088c666be5c197", 10),
)


def test_rfc3610__packet_vectors_seal():
    for num, key, nonce, aad, pt, want, m in PACKETS:
        got = Ccm(h(key), m).encrypt(h(nonce), h(aad), h(pt))
        assert hx(got) == want, "packet vector #%d: %s" % (num, hx(got))


def test_rfc3610__packet_vectors_open():
    for num, key, nonce, aad, pt, want, m in PACKETS:
        got = Ccm(h(key), m).decrypt(h(nonce), h(aad), h(want))
        assert hx(got) == pt, "packet vector #%d: %s" % (num, hx(got))


def test_rfc8613_c4__oscore_shape():
    # AES-CCM-16-64-128 as OSCORE calls it (Appendix C.4): 13-byte nonce, 8-byte tag
    c = Ccm(h("f0910ed7295e6ad4b54fc793154302ff"))
    got = c.encrypt(h("4622d4dd6d944168eefb549868"),
                    h("8368456e63727970743040488501810a40411440"), h("01b3747631"))
    assert hx(got) == "612f1092f1776f1c1668b3825e"


def test_open__rejects_every_flipped_bit_of_ciphertext_and_tag():
    num, key, nonce, aad, pt, want, m = PACKETS[0]
    c = Ccm(h(key), m)
    good = h(want)
    for i in range(len(good)):
        for bit in (0x01, 0x80):
            bad = bytearray(good)
            bad[i] ^= bit
            raises(DecryptionFailed, c.decrypt, h(nonce), h(aad), bytes(bad))
    # wrong AAD, wrong nonce
    raises(DecryptionFailed, c.decrypt, h(nonce), h(aad) + b"\x00", good)
    raises(DecryptionFailed, c.decrypt, h("00000003020100a0a1a2a3a4a6"), h(aad), good)
    # and the object still works afterwards
    assert hx(c.decrypt(h(nonce), h(aad), good)) == pt


def test_open_into__wipes_the_plaintext_when_the_tag_fails():
    num, key, nonce, aad, pt, want, m = PACKETS[0]
    buf = bytearray(h(want))
    buf[-1] ^= 1
    n = len(buf) - m
    e = raises(DecryptionFailed, Ccm(h(key), m).open_into, h(nonce), h(aad), buf, n)
    assert e.message == "AES-CCM tag mismatch"
    assert buf[0:n] == bytearray(n)


def test_seal_into__in_place_with_empty_and_block_sized_messages():
    c = Ccm(h(K1))
    nonce = h("00000003020100a0a1a2a3a4a5")
    for n in (0, 1, 15, 16, 17, 32, 100):
        pt = bytes((i * 7 + 3) & 0xFF for i in range(n))
        buf = bytearray(n + 8)
        buf[0:n] = pt
        c.seal_into(nonce, b"", buf, n)
        assert buf == c.encrypt(nonce, b"", pt)
        c.open_into(nonce, b"", buf, n)
        assert bytes(buf[0:n]) == pt, "length %d" % n


def test_errors__name_the_bad_parameter():
    e = raises(ValueError, Ccm, b"short")
    assert str(e) == "AES-CCM key: expected 16 bytes, got 5"
    e = raises(ValueError, Ccm, h(K1), 7)
    assert str(e) == "AES-CCM tag length: expected 4, 6, ..., 16, got 7"
    e = raises(ValueError, Ccm(h(K1)).encrypt, b"123456", b"", b"x")
    assert str(e) == "AES-CCM nonce: expected 7..13 bytes, got 6"
    e = raises(DecryptionFailed, Ccm(h(K1)).decrypt, h("00000003020100a0a1a2a3a4a5"), b"",
               b"1234567")
    assert e.message == "ciphertext of 7 bytes is shorter than the 8-byte tag"
    assert e.code == 128


def test_seal_into_and_open_into__allocate_nothing():
    # MicroPython: heap_lock() makes any allocation raise MemoryError (CPython: plain run)
    try:
        import micropython

        lock, unlock = micropython.heap_lock, micropython.heap_unlock
    except (ImportError, AttributeError):
        lock = unlock = lambda: None
    c = Ccm(h(K1))
    nonce = h("00000003020100a0a1a2a3a4a5")
    aad = h("8368456e63727970743040488501810a40411440")
    buf = bytearray(108)
    for i in range(100):
        buf[i] = i
    c.seal_into(nonce, aad, buf, 100)  # warm-up outside the lock
    c.open_into(nonce, aad, buf, 100)
    lock()
    try:
        c.seal_into(nonce, aad, buf, 100)
        c.open_into(nonce, aad, buf, 100)
    finally:
        unlock()
    assert buf[0:100] == bytearray(range(100))

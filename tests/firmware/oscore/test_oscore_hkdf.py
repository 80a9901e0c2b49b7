# runs-on: micropython cpython
"""HMAC-SHA-256 against RFC 4231 (all seven cases) and HKDF-SHA-256 against RFC 5869
(the three SHA-256 cases), on hashlib.sha256 alone."""
from firmware.oscore import hkdf
from oscore_helpers import h, hx

# RFC 4231 section 4: (case, key, data, HMAC-SHA-256; case 5 is truncated to 128 bits)
_LONG_KEY = "aa" * 131
RFC4231 = (
    (1, "0b" * 20, hx(b"Hi There"),
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (2, hx(b"Jefe"), hx(b"what do ya want for nothing?"),
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (3, "aa" * 20, "dd" * 50,
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    (4, "0102030405060708090a0b0c0d0e0f10111213141516171819", "cd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (5, "0c" * 20, hx(b"Test With Truncation"), "a3b6167473100ee06e0c796c2955552b"),
    (6, _LONG_KEY, hx(b"Test Using Larger Than Block-Size Key - Hash Key First"),
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (7, _LONG_KEY, hx(b"This is a test using a larger than block-size key and a larger than "
                      b"block-size data. The key needs to be hashed before being used by the "
                      b"HMAC algorithm."),
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
)


def _seq(a, b):
    return hx(bytes(range(a, b)))


# RFC 5869 Appendix A.1-A.3: (case, IKM, salt, info, L, PRK, OKM)
RFC5869 = (
    (1, "0b" * 22, _seq(0x00, 0x0d), _seq(0xf0, 0xfa), 42,
     "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
    (2, _seq(0x00, 0x50), _seq(0x60, 0xb0), _seq(0xb0, 0x100), 82,
     "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e"
     "590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"),
    (3, "0b" * 22, "", "", 42,
     "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
)


def test_hmac__rfc4231():
    for case, key, data, want in RFC4231:
        got = hx(hkdf.hmac_sha256(h(key), h(data)))
        assert got[0:len(want)] == want, "RFC 4231 case %d: %s" % (case, got)


def test_hkdf__rfc5869_extract_and_expand():
    for case, ikm, salt, info, n, prk, okm in RFC5869:
        got_prk = hkdf.extract(h(salt), h(ikm))
        assert hx(got_prk) == prk, "RFC 5869 case %d PRK: %s" % (case, hx(got_prk))
        got = hkdf.expand(got_prk, h(info), n)
        assert hx(got) == okm, "RFC 5869 case %d OKM: %s" % (case, hx(got))
        assert hkdf.hkdf(h(salt), h(ikm), h(info), n) == got


def test_hkdf__refuses_a_length_beyond_255_blocks():
    try:
        hkdf.expand(bytes(32), b"", 255 * 32 + 1)
    except ValueError as e:
        assert str(e) == "HKDF length: expected at most 8160, got 8161"
    else:
        raise AssertionError("no error")

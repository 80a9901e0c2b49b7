# runs-on: micropython cpython
"""Every example of RFC 8949 Appendix A, decoded and (where the RFC's form is the preferred
one) encoded byte for byte, on MicroPython and CPython alike."""
from protocol.cbor import CBORError, Simple, Tag, Undefined, dumps, loads, loads_prefix

INF = float("inf")
NAN = float("nan")

# (hex, value, encode): encode is False where Appendix A shows a form that is not the one our
# deterministic encoder picks (the wide floats, indefinite lengths, bignums < 2**64).
APPENDIX_A = (
    ("00", 0, True),
    ("01", 1, True),
    ("0a", 10, True),
    ("17", 23, True),
    ("1818", 24, True),
    ("1819", 25, True),
    ("1864", 100, True),
    ("1903e8", 1000, True),
    ("1a000f4240", 1000000, True),
    ("1b000000e8d4a51000", 1000000000000, True),
    ("1bffffffffffffffff", 18446744073709551615, True),
    ("c249010000000000000000", 18446744073709551616, True),
    ("3bffffffffffffffff", -18446744073709551616, True),
    ("c349010000000000000000", -18446744073709551617, True),
    ("20", -1, True),
    ("29", -10, True),
    ("3863", -100, True),
    ("3903e7", -1000, True),
    ("f90000", 0.0, True),
    ("f98000", -0.0, True),
    ("f93c00", 1.0, True),
    ("fb3ff199999999999a", 1.1, True),
    ("f93e00", 1.5, True),
    ("f97bff", 65504.0, True),
    ("fa47c35000", 100000.0, True),
    ("fa7f7fffff", 3.4028234663852886e38, True),
    ("fb7e37e43c8800759c", 1.0e300, True),
    ("f90001", 5.960464477539063e-8, True),
    ("f90400", 0.00006103515625, True),
    ("f9c400", -4.0, True),
    ("fbc010666666666666", -4.1, True),
    ("f97c00", INF, True),
    ("f97e00", NAN, True),
    ("f9fc00", -INF, True),
    ("fa7f800000", INF, False),
    ("fa7fc00000", NAN, False),
    ("faff800000", -INF, False),
    ("fb7ff0000000000000", INF, False),
    ("fb7ff8000000000000", NAN, False),
    ("fbfff0000000000000", -INF, False),
    ("f4", False, True),
    ("f5", True, True),
    ("f6", None, True),
    ("f7", Undefined, True),
    ("f0", Simple(16), True),
    ("f8ff", Simple(255), True),
    ("c074323031332d30332d32315432303a30343a30305a", Tag(0, "2013-03-21T20:04:00Z"), True),
    ("c11a514b67b0", Tag(1, 1363896240), True),
    ("c1fb41d452d9ec200000", Tag(1, 1363896240.5), True),
    ("d74401020304", Tag(23, b"\x01\x02\x03\x04"), True),
    ("d818456449455446", Tag(24, b"dIETF"), True),
    (
        "d82076687474703a2f2f7777772e6578616d706c652e636f6d",
        Tag(32, "http://www.example.com"),
        True,
    ),
    ("40", b"", True),
    ("4401020304", b"\x01\x02\x03\x04", True),
    ("60", "", True),
    ("6161", "a", True),
    ("6449455446", "IETF", True),
    ("62225c", '"\\', True),
    ("62c3bc", "\u00fc", True),
    ("63e6b0b4", "\u6c34", True),
    ("64f0908591", "\U00010151", True),
    ("80", [], True),
    ("83010203", [1, 2, 3], True),
    ("8301820203820405", [1, [2, 3], [4, 5]], True),
    (
        "98190102030405060708090a0b0c0d0e0f101112131415161718181819",
        list(range(1, 26)),
        True,
    ),
    ("a0", {}, True),
    ("a201020304", {1: 2, 3: 4}, True),
    ("a26161016162820203", {"a": 1, "b": [2, 3]}, True),
    ("826161a161626163", ["a", {"b": "c"}], True),
    (
        "a56161614161626142616361436164614461656145",
        {"a": "A", "b": "B", "c": "C", "d": "D", "e": "E"},
        True,
    ),
    ("5f42010243030405ff", b"\x01\x02\x03\x04\x05", False),
    ("7f657374726561646d696e67ff", "streaming", False),
    ("9fff", [], False),
    ("9f018202039f0405ffff", [1, [2, 3], [4, 5]], False),
    ("9f01820203820405ff", [1, [2, 3], [4, 5]], False),
    ("83018202039f0405ff", [1, [2, 3], [4, 5]], False),
    ("83019f0203ff820405", [1, [2, 3], [4, 5]], False),
    ("9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff", list(range(1, 26)), False),
    ("bf61610161629f0203ffff", {"a": 1, "b": [2, 3]}, False),
    ("826161bf61626163ff", ["a", {"b": "c"}], False),
    ("bf6346756ef563416d7421ff", {"Fun": True, "Amt": -2}, False),
)


def same(a, b):
    """Equality that also holds for NaN and tells -0.0 from 0.0 and True from 1."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        if a != a:
            return b != b
        return a == b and str(a) == str(b)
    if type(a) is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is dict:
        return len(a) == len(b) and all(k in b and same(v, b[k]) for k, v in a.items())
    if type(a) is Tag:
        return a.tag == b.tag and same(a.value, b.value)
    return a == b


def test_appendix_a__decodes_every_example():
    for h, value, _ in APPENDIX_A:
        got = loads(bytes.fromhex(h))
        assert same(got, value), "%s decoded to %r, expected %r" % (h, got, value)


def test_appendix_a__encodes_preferred_forms_byte_for_byte():
    n = 0
    for h, value, encode in APPENDIX_A:
        if encode:
            got = dumps(value).hex()
            assert got == h, "%r encoded to %s, expected %s" % (value, got, h)
            n += 1
    assert n == 64


def test_appendix_a__round_trips_through_our_own_encoding():
    for h, value, _ in APPENDIX_A:
        assert same(loads(dumps(loads(bytes.fromhex(h)))), value), h


def test_loads__accepts_bytearray_and_memoryview():
    data = bytes.fromhex("a26161016162820203")
    assert loads(bytearray(data)) == {"a": 1, "b": [2, 3]}
    assert loads(memoryview(data)) == {"a": 1, "b": [2, 3]}
    assert loads(memoryview(b"\x43abc")) == b"abc"


def test_loads_prefix__returns_the_next_offset():
    data = bytes.fromhex("0118196161")
    assert loads_prefix(data) == (1, 1)
    assert loads_prefix(data, 1) == (25, 3)
    assert loads_prefix(data, 3) == ("a", 5)


def test_tag_and_simple__compare_and_hash():
    assert Tag(1, 5) == Tag(1, 5)
    assert Tag(1, 5) != Tag(1, 6)
    assert Tag(1, 5) != Tag(2, 5)
    assert {Tag(1, 5): "x"}[Tag(1, 5)] == "x"
    assert Simple(16) == Simple(16)
    assert Simple(16) != Simple(17)
    assert repr(Tag(1, 5)) == "Tag(1, 5)"
    assert repr(Simple(16)) == "Simple(16)"
    assert repr(Undefined) == "Undefined"
    assert not Undefined

# runs-on: micropython cpython
"""The encoder's one deterministic form (RFC 8949 section 4.2.1), on both interpreters."""
from protocol.cbor import CBORError, Simple, Tag, Undefined, dump_into, dumps, loads
from utils.dual import raises


def hx(obj):
    return dumps(obj).hex()


def test_dumps__integers_use_the_shortest_argument():
    assert hx(23) == "17"
    assert hx(255) == "18ff"
    assert hx(256) == "190100"
    assert hx(65535) == "19ffff"
    assert hx(65536) == "1a00010000"
    assert hx(4294967295) == "1affffffff"
    assert hx(4294967296) == "1b0000000100000000"
    assert hx(-24) == "37"
    assert hx(-25) == "3818"
    assert hx(-4294967297) == "3b0000000100000000"


def test_dumps__bignums_only_past_64_bits_without_leading_zeros():
    assert hx(2**64) == "c249010000000000000000"
    assert hx(2**72) == "c24a01000000000000000000"
    assert hx(2**72 - 1) == "c249ffffffffffffffffff"
    assert hx(-(2**64) - 1) == "c349010000000000000000"
    assert loads(dumps(3**50)) == 3**50
    assert loads(dumps(-(3**50))) == -(3**50)


def test_dumps__floats_take_the_shortest_exact_width():
    assert hx(0.5) == "f93800"
    assert hx(-0.0) == "f98000"
    assert hx(6.103515625e-05) == "f90400"  # smallest normal half
    assert hx(6.097555160522461e-05) == "f903ff"  # largest subnormal half
    assert hx(2.0**-25) == "fa33000000"  # below half's range, exact in single
    assert hx(65504.0) == "f97bff"
    assert hx(65520.0) == "fa477ff000"  # past half's largest
    assert hx(1.0009765625) == "f93c01"  # 1 + 2**-10: exact in half
    assert hx(1.00048828125) == "fa3f801000"  # 1 + 2**-11: needs single
    assert hx(0.1) == "fb3fb999999999999a"
    assert hx(3.4028234663852886e38) == "fa7f7fffff"
    assert hx(1e39) == "fb48078287f49c4a1d"
    assert hx(2.0**-140) == "fa00000200"  # a float32 subnormal, exact
    assert hx(2.0**-150) == "fb3690000000000000"  # underflows to 0 in float32: not exact
    assert hx(4.7761523061006677e-73) == "fb30eb010217c9eca0"  # underflows in float32 too


def test_dumps__every_nan_is_one_canonical_half():
    assert hx(float("nan")) == "f97e00"
    assert hx(-float("nan")) == "f97e00"


def test_dumps__map_keys_sort_by_their_encoded_bytes():
    # Bytewise on the encodings: 10 (0a) < 100 (1864) < -1 (20) < "z" < "aa" < false (f4).
    obj = {False: 8, "aa": 5, 100: 2, -1: 3, "z": 4, 10: 1}
    assert hx(obj) == "a60a01186402200361" "7a0462616105f408"


def test_dumps__key_order_does_not_depend_on_insertion_order():
    a = {}
    b = {}
    keys = ["dev", "seq", "k", "up", "t", "lel", "lvl", 1, -5, b"\x00", 2.5]
    for k in keys:
        a[k] = 1
    for k in reversed(keys):
        b[k] = 1
    assert dumps(a) == dumps(b)


def test_dumps__types_map_as_documented():
    assert hx([1, (2, 3)]) == "8201820203"
    assert hx(bytearray(b"\x01")) == "4101"
    assert hx(memoryview(b"\x01")) == "4101"
    assert hx(True) == "f5"
    assert hx(None) == "f6"
    assert hx(Undefined) == "f7"
    assert hx(Simple(0)) == "e0"
    assert hx(Simple(19)) == "f3"
    assert hx(Simple(32)) == "f820"
    assert hx(Tag(1, 1363896240)) == "c11a514b67b0"
    assert hx(Tag(2**64 - 1, None)) == "dbfffffffffffffffff6"
    assert hx("\u6c34") == "63e6b0b4"


def test_dumps__subclasses_encode_as_their_base():
    class MyInt(int):
        pass

    class MyStr(str):
        pass

    class MyDict(dict):
        pass

    assert hx(MyInt(5)) == "05"
    assert hx(MyStr("a")) == "6161"
    assert hx(MyDict(a=1)) == "a1616101"


def test_dumps__refuses_what_cbor_cannot_carry():
    e = raises(CBORError, dumps, {1, 2})
    assert str(e) == "cannot encode a value of type set"
    e = raises(CBORError, dumps, [object()])
    assert str(e) == "cannot encode a value of type object"
    e = raises(CBORError, dumps, {float("nan"): 1, -float("nan"): 2})
    assert str(e) == "two map keys encode to the same bytes f97e00"


def test_dumps__refuses_nesting_deeper_than_the_limit_and_cycles():
    deep = 0
    for _ in range(16):
        deep = [deep]
    assert dumps(deep) == bytes.fromhex("81" * 16 + "00")
    e = raises(CBORError, dumps, [deep])
    assert str(e) == "nesting deeper than 16"
    loop = []
    loop.append(loop)
    e = raises(CBORError, dumps, loop)
    assert str(e) == "nesting deeper than 16"


def test_simple_and_tag__refuse_out_of_range_numbers():
    for n in (-1, 20, 23, 24, 31, 256):
        e = raises(CBORError, Simple, n)
        assert str(e) == "simple value must be 0..19 or 32..255, got %d" % n
    e = raises(CBORError, Tag, -1, 0)
    assert str(e) == "tag number must be an int in 0..2**64-1, got -1"


def test_dump_into__appends_to_a_buffer():
    buf = bytearray(b"\x01")
    assert dump_into(buf, [2]) is buf
    assert buf == bytearray(b"\x01\x81\x02")

# runs-on: micropython cpython
"""Every way the decoder refuses input, with its exact message (problem + byte offset), on
MicroPython and CPython alike: the message is part of the contract (docs/protocol.md)."""
from protocol.cbor import CBORError, loads, loads_prefix
from utils.dual import raises

# (input hex, spaces ignored; the CBORError message)
BAD = (
    ("", "truncated input: 1 byte needed, 0 left at byte 0"),
    ("18", "truncated input: 1 byte needed, 0 left at byte 1"),
    ("19 01", "truncated input: 2 bytes needed, 1 left at byte 1"),
    ("1a 0000", "truncated input: 4 bytes needed, 2 left at byte 1"),
    ("1b 00000000000000", "truncated input: 8 bytes needed, 7 left at byte 1"),
    ("1c", "reserved additional information 28 at byte 0"),
    ("3d", "reserved additional information 29 at byte 0"),
    ("5e", "reserved additional information 30 at byte 0"),
    ("7f 61 61", "truncated input: 1 byte needed, 0 left at byte 3"),
    ("9f", "truncated input: 1 byte needed, 0 left at byte 1"),
    ("9f 01", "truncated input: 1 byte needed, 0 left at byte 2"),
    ("bf 61 61", "truncated input: 1 byte needed, 0 left at byte 3"),
    ("bf 61 61 ff", "unexpected break code at byte 3"),
    ("5f 01 ff", "chunk of an indefinite-length byte string must be a definite-length byte string at byte 1"),
    ("5f 61 61 ff", "chunk of an indefinite-length byte string must be a definite-length byte string at byte 1"),
    ("5f 5f 40 ff ff", "chunk of an indefinite-length byte string must be a definite-length byte string at byte 1"),
    ("7f 41 61 ff", "chunk of an indefinite-length text string must be a definite-length text string at byte 1"),
    ("ff", "unexpected break code at byte 0"),
    ("81 ff", "unexpected break code at byte 1"),
    ("82 01 ff", "unexpected break code at byte 2"),
    ("a1 ff", "map length 1 past the end of input (1 byte left) at byte 0"),
    ("a1 01 ff", "unexpected break code at byte 2"),
    ("f8 18", "simple value 24 in the two-byte form at byte 0"),
    ("f8 1f", "simple value 31 in the two-byte form at byte 0"),
    ("fc", "reserved additional information 28 at byte 0"),
    ("fd", "reserved additional information 29 at byte 0"),
    ("fe", "reserved additional information 30 at byte 0"),
    ("f9 00", "truncated input: 2 bytes needed, 1 left at byte 1"),
    ("fa 00", "truncated input: 4 bytes needed, 1 left at byte 1"),
    ("fb 00 00", "truncated input: 8 bytes needed, 2 left at byte 1"),
    ("1f", "indefinite length not allowed for major type 0 (uint) at byte 0"),
    ("3f", "indefinite length not allowed for major type 1 (negint) at byte 0"),
    ("df 01", "indefinite length not allowed for major type 6 (tag) at byte 0"),
    ("45 01", "byte string length 5 past the end of input (1 byte left) at byte 0"),
    ("65 61", "text string length 5 past the end of input (1 byte left) at byte 0"),
    ("84 01", "array length 4 past the end of input (1 byte left) at byte 0"),
    ("a3 01 02", "map length 3 past the end of input (2 bytes left) at byte 0"),
    ("5a 00 01 00 01", "byte string length 65537 over the limit 65536 at byte 0"),
    ("9a 00 01 00 01", "array length 65537 over the limit 65536 at byte 0"),
    ("ba 00 01 00 01", "map length 65537 over the limit 65536 at byte 0"),
    ("00 00", "1 trailing byte after the item at byte 1"),
    ("62 c3 28", "invalid UTF-8 in text string at byte 0"),
    ("63 ed a0 80", "invalid UTF-8 in text string at byte 0"),
    ("62 c0 80", "invalid UTF-8 in text string at byte 0"),
    ("64 f4 90 80 80", "invalid UTF-8 in text string at byte 0"),
    ("7f 61 c3 ff", "invalid UTF-8 in text string at byte 1"),
    ("7f 62 c3 bc 61 ff ff", "invalid UTF-8 in text string at byte 4"),
    ("c2 01", "tag 2 (bignum) content must be a byte string at byte 1"),
    ("c3 61 61", "tag 3 (bignum) content must be a byte string at byte 1"),
    ("c1 61 61", "tag 1 (epoch time) content must be a number at byte 1"),
    ("c1 f5", "tag 1 (epoch time) content must be a number at byte 1"),
    ("c0 01", "tag 0 (date/time) content must be a text string at byte 1"),
    ("a2 01 02 01 03", "duplicate map key 1 at byte 3"),
    ("a1 80 01", "map key of type array is not supported at byte 1"),
    ("a1 a0 01", "map key of type map is not supported at byte 1"),
    ("a1 c1 80 01", "tag 1 (epoch time) content must be a number at byte 2"),
    ("818181818181818181818181818181818100", "nesting deeper than 16 at byte 16"),
    ("c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c100", "nesting deeper than 16 at byte 16"),
    ("c68181818181818181818181818181818100", "nesting deeper than 16 at byte 16"),
    ("9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9f9fffffffffffffffffffffffffffffffffff", "nesting deeper than 16 at byte 16"),
    ("02 03 04", "2 trailing bytes after the item at byte 1"),
    ("61 c3", "invalid UTF-8 in text string at byte 0"),  # sequence cut short
    ("61 80", "invalid UTF-8 in text string at byte 0"),  # lone continuation byte
    ("63 e0 80 80", "invalid UTF-8 in text string at byte 0"),  # overlong, 3 bytes
    ("64 f0 80 80 80", "invalid UTF-8 in text string at byte 0"),  # overlong, 4 bytes
    ("64 f5 80 80 80", "invalid UTF-8 in text string at byte 0"),  # past U+10FFFF
    ("63 ed bf bf", "invalid UTF-8 in text string at byte 0"),  # surrogate U+DFFF
)


def test_loads__refuses_each_malformed_input_with_its_message():
    for h, msg in BAD:
        e = raises(CBORError, loads, bytes.fromhex(h.replace(" ", "")))
        assert str(e) == msg, "%s: got %r, expected %r" % (h, str(e), msg)
        assert isinstance(e, ValueError)


def test_loads__error_keeps_the_offset():
    e = raises(CBORError, loads, bytes.fromhex("820102ff"))
    assert e.offset == 3


def test_loads__sixteen_levels_of_nesting_are_fine():
    assert loads(bytes.fromhex("81" * 16 + "00")) == [[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]


def test_loads__limits_can_be_set_per_call():
    assert loads(bytes.fromhex("8181818100"), max_depth=4) == [[[[0]]]]
    e = raises(CBORError, loads, bytes.fromhex("818181818100"), max_depth=4)
    assert str(e) == "nesting deeper than 4 at byte 4"
    e = raises(CBORError, loads, bytes.fromhex("6461626364"), max_len=3)
    assert str(e) == "text string length 4 over the limit 3 at byte 0"
    e = raises(CBORError, loads, bytes.fromhex("7f626162626364ff"), max_len=3)
    assert str(e) == "text string length 4 over the limit 3 at byte 0"
    e = raises(CBORError, loads, bytes.fromhex("9f01020304ff"), max_len=3)
    assert str(e) == "array length over the limit 3 at byte 0"
    e = raises(CBORError, loads, bytes.fromhex("bf010203040506ff"), max_len=2)
    assert str(e) == "map length over the limit 2 at byte 0"


def test_loads__max_items_bounds_arrays_and_maps_not_strings():
    from protocol.cbor_decode import TooManyItems

    for h, want in (("83010203", "array length 3 over the limit 2 at byte 0"),
                    ("9f010203ff", "array length over the limit 2 at byte 0"),
                    ("a3010102020303", "map length 3 over the limit 2 at byte 0"),
                    ("8201830102ff", "array length 3 over the limit 2 at byte 2")):
        e = raises(TooManyItems, loads, bytes.fromhex(h), max_items=2)
        assert str(e) == want, (h, str(e))
    assert loads(bytes.fromhex("6461626364"), max_items=2) == "abcd"  # strings: max_len
    e = raises(CBORError, loads, bytes.fromhex("6461626364"), max_len=3, max_items=8)
    assert not isinstance(e, TooManyItems)


def test_loads__huge_declared_lengths_fail_before_allocating():
    # 2**64-1 items or bytes declared with nothing behind them: refused at once, not allocated.
    for h in ("5bffffffffffffffff", "9bffffffffffffffff", "bbffffffffffffffff"):
        e = raises(CBORError, loads, bytes.fromhex(h))
        assert "over the limit 65536 at byte 0" in str(e), str(e)
    e = raises(CBORError, loads, bytes.fromhex("5a0000ffff"))
    assert str(e) == "byte string length 65535 past the end of input (0 bytes left) at byte 0"


def test_loads__refuses_what_is_not_bytes():
    e = raises(CBORError, loads, "a0")
    assert str(e) == "input must be bytes, not str"


def test_loads_prefix__reports_truncation_at_the_right_offset():
    e = raises(CBORError, loads_prefix, bytes.fromhex("0019"), 1)
    assert str(e) == "truncated input: 2 bytes needed, 0 left at byte 2"


def test_loads__valid_utf8_of_every_length_is_accepted():
    assert loads(bytes.fromhex("6cc3bce6b0b4f0908591ed9fbf")) == "\u00fc\u6c34\U00010151\ud7ff"
    assert loads(bytes.fromhex("64f48fbfbf")) == "\U0010ffff"
    assert loads(bytes.fromhex("63efbfbf")) == "\uffff"

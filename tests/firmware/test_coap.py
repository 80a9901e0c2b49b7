# runs-on: micropython cpython
"""CoAP message bytes (RFC 7252 s3), compared byte for byte, and the refusal of bad input."""
from firmware.coap import Message, NotFound, UnparsableMessage
from protocol import coap_numbers as N
from utils.dual import raises


def test_encode__con_post_with_path_cf_and_payload():
    m = Message(N.CON, N.POST, 0x1234, b"\xab\xcd", b"\xa0", path=("gg", "ev"), cf=60)
    # 42 = ver 1, CON, TKL 2; 02 = POST; 1234 = MID; token; b2 "gg" (Uri-Path 11, len 2);
    # 02 "ev" (delta 0); 11 3c (Content-Format 12 = delta 1, len 1, 60); ff; payload
    assert m.encode().hex() == "420212" + "34abcd" + "b26767" + "026576" + "113c" + "ffa0"


def test_encode__empty_ack_and_long_option_delta():
    assert Message(N.ACK, N.EMPTY, 7).encode().hex() == "60000007"
    m = Message(N.CON, N.GET, 1, b"")
    m.add_option(60, 1000)  # Size1: delta 60 -> nibble 13 + 47
    assert m.encode().hex() == "40010001" + "d22f03e8"


def test_decode__round_trip_keeps_options_in_order():
    m = Message(N.NON, N.CONTENT, 9, b"\x01", b"hi", path=("a", "b", "c"), cf=112)
    d = Message.decode(m.encode(), remote="r")
    assert (d.mtype, d.code, d.mid, d.token, d.payload) == (N.NON, N.CONTENT, 9, b"\x01", b"hi")
    assert d.path == ("a", "b", "c") and d.cf == 112 and d.remote == "r"


def test_decode__refuses_bad_datagrams_saying_why():
    cases = (
        ("40", "message: expected at least 4 bytes, got 1"),
        ("80010001", "message: expected version 1, got 2"),
        ("49010001", "message: token length 9 is reserved"),
        ("42010001ab", "message: token of 2 bytes cut short"),
        ("40010001ff", "message: payload marker with no payload"),
        ("40010001f0", "message: option nibble 15 is reserved"),
        ("40010001b3676767", "message: option 11 value cut short"[:0] or None),
        ("60000001ff00", "message: an empty message must be 4 bytes"),
    )
    for hx, want in cases:
        data = bytes.fromhex(hx)
        if want is None:
            Message.decode(data)  # a complete option: fine
            continue
        e = raises(UnparsableMessage, Message.decode, data)
        assert str(e) == want, (hx, str(e))


def test_errors__carry_their_code():
    assert NotFound().code == N.NOT_FOUND == 132

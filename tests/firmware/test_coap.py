# runs-on: micropython cpython
"""CoAP message bytes (RFC 7252 s3), compared byte for byte, and the refusal of bad input."""
from firmware.coap import MAX_OPTIONS, BadOption, BadRequest, Message, NotFound, UnparsableMessage
from firmware.coapnet import Endpoint, Resource, Site
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


FLOOD = b"\x00" * 1020  # 1,020 empty options (number 0, delta 0) after the header


def test_decode__a_request_with_an_option_flood_keeps_24_and_is_refused_4_02():
    m = Message.decode(bytes.fromhex("42011234abcd") + FLOOD)
    assert (m.code, m.mid, m.token) == (N.GET, 0x1234, b"\xab\xcd")
    assert len(m.options) == MAX_OPTIONS == 24
    e = raises(BadOption, lambda: m.path)
    assert e.code == N.BAD_OPTION and str(e) == "message: more than 24 options"
    # exactly 24 is a message like any other
    ok = Message.decode(bytes.fromhex("40010001") + b"\x00" * 24)
    assert len(ok.options) == 24 and ok.refused is None and ok.path == ()


def test_decode__a_response_or_empty_message_with_an_option_flood_is_unparsable():
    for head in ("6045abcd", "60000001"):  # ACK 2.05, empty ACK
        e = raises(UnparsableMessage, Message.decode, bytes.fromhex(head) + FLOOD)
        assert str(e) == "message: more than 24 options", head


def test_path__not_utf8_is_a_bad_request():
    m = Message.decode(bytes.fromhex("44021234" "01020304" "b2fffe"))
    e = raises(BadRequest, lambda: m.path)
    assert e.code == N.BAD_REQUEST and str(e) == "Uri-Path: not UTF-8"


class _Counting(Resource):
    def __init__(self):
        self.calls = 0

    def render_post(self, request):
        self.calls += 1
        return N.CHANGED, b"", None


class _Sock:
    def __init__(self):
        self.sent = []

    def sendto(self, data, remote):
        self.sent.append(data)


def _answer(datagram):
    site = Site()
    res = _Counting()
    site.add(("gg",), res)
    sock = _Sock()
    Endpoint(sock, site, clock=lambda: 0, rand=lambda: 0).datagram(datagram, b"peer")
    return Message.decode(sock.sent[-1]), res.calls


def test_endpoint__non_utf8_uri_path_is_answered_4_00_and_reaches_no_resource():
    answer, calls = _answer(bytes.fromhex("44021234" "01020304" "b2fffe"))
    assert (answer.mtype, answer.code, answer.mid, answer.token) == (N.ACK, N.BAD_REQUEST, 0x1234,
                                                                     b"\x01\x02\x03\x04")
    assert answer.payload == b"Uri-Path: not UTF-8" and calls == 0


def test_endpoint__option_flood_is_answered_4_02_and_reaches_no_resource():
    # POST /gg then 1,020 more empty options: the path is there, the request is still refused
    answer, calls = _answer(bytes.fromhex("44021234" "01020304" "b26767") + FLOOD)
    assert (answer.mtype, answer.code, answer.mid) == (N.ACK, N.BAD_OPTION, 0x1234)
    assert answer.payload == b"message: more than 24 options" and calls == 0
    answer, calls = _answer(bytes.fromhex("44021234" "01020304" "b26767"))
    assert answer.code == N.CHANGED and calls == 1  # the same request without the flood

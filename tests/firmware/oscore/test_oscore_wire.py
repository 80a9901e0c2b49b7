# runs-on: micropython cpython
"""OSCORE option values (RFC 8613 s6.1 and the Appendix C values), the plaintext codec, the AAD
and the key-derivation info, the last two checked against protocol.cbor."""
from firmware.oscore import wire
from firmware.oscore.errors import BadOption, DecodeFailed
from oscore_helpers import h, hx, raises
from protocol import cbor


def test_option__appendix_c_values():
    assert hx(wire.encode_option(b"\x14", b"", None)) == "0914"  # C.4
    assert hx(wire.encode_option(b"\x14", b"\x00", None)) == "091400"  # C.5
    assert hx(wire.encode_option(b"\x14", b"", h("37cbf3210017a2d3"))) == \
        "19140837cbf3210017a2d3"  # C.6
    assert wire.encode_option(None, None, None) == b""  # C.7
    assert hx(wire.encode_option(b"\x00", None, None)) == "0100"  # C.8


def test_option__decodes_what_it_encodes():
    cases = ((b"\x14", b"", None), (b"\x14", b"\x00", None), (b"\x14", b"", h("37cbf321")),
             (None, None, None), (b"\x00", None, None), (b"\x01\x02\x03\x04\x05", b"abc", b""),
             (None, b"\x42", None))
    for piv, kid, ctx in cases:
        got = wire.decode_option(wire.encode_option(piv, kid, ctx))
        assert got == (piv, kid, ctx), (piv, kid, ctx, got)


def test_option__malformed_values_name_the_problem():
    bad = (
        ("00", "OSCORE option: flags are all zero but the value is not empty"),
        ("2900", "OSCORE option: reserved flag bits set (0x29)"),
        ("8100", "OSCORE option: reserved flag bits set (0x81)"),
        ("06010203040506", "OSCORE option: Partial IV length 6 is reserved"),
        ("03aabb", "OSCORE option: Partial IV of 3 bytes cut short"),
        ("1114", "OSCORE option: kid context length missing"),
        ("111404aabb", "OSCORE option: kid context of 4 bytes cut short"),
        ("0114ff", "OSCORE option: 1 bytes left over after the fields its flags announce"),
    )
    for value, msg in bad:
        e = raises(BadOption, wire.decode_option, h(value))
        assert e.message == msg, (value, e.message)
        assert e.code == 130


def test_option__encode_refuses_impossible_fields():
    e = raises(ValueError, wire.encode_option, b"123456", None, None)
    assert str(e) == "Partial IV: expected 1..5 bytes, got 6"


def test_piv__shortest_big_endian():
    assert wire.piv_bytes(0) == b"\x00"
    assert wire.piv_bytes(20) == b"\x14"
    assert wire.piv_bytes(255) == b"\xff"
    assert wire.piv_bytes(256) == b"\x01\x00"
    assert wire.piv_bytes((1 << 40) - 1) == b"\xff" * 5
    for n in (0, 1, 255, 256, 65535, 1 << 33):
        assert wire.piv_int(wire.piv_bytes(n)) == n


def test_plaintext__appendix_c_values():
    buf, n = wire.plaintext_into(1, [(11, b"tv1")], b"", 8)  # C.4: GET /tv1
    assert hx(buf[0:n]) == "01b3747631" and len(buf) == n + 8
    buf, n = wire.plaintext_into(69, [], b"Hello World!", 0)  # C.7: 2.05 "Hello World!"
    assert hx(buf[0:n]) == "45ff48656c6c6f20576f726c6421"
    assert wire.decode_plaintext(h("45ff48656c6c6f20576f726c6421"), 14) == \
        (69, [], b"Hello World!")


def test_plaintext__round_trip_with_extended_numbers_and_lengths_in_any_order():
    opts = [(258, b"\x02"), (11, b"v1"), (11, b"e"), (12, b"\x3c"), (252, b"12345678"),
            (15, b"x" * 13), (60, b"y" * 300)]
    buf, n = wire.plaintext_into(2, opts, b"\x01\x02", 0)
    code, got, payload = wire.decode_plaintext(buf, n)
    assert code == 2 and payload == b"\x01\x02"
    assert got == [(11, b"v1"), (11, b"e"), (12, b"\x3c"), (15, b"x" * 13), (60, b"y" * 300),
                   (252, b"12345678"), (258, b"\x02")]


def test_plaintext__refuses_an_inner_oscore_option():
    e = raises(ValueError, wire.plaintext_into, 1, [(9, b"")], b"", 0)
    assert str(e) == "plaintext: an OSCORE option cannot be protected by OSCORE"


def test_plaintext__malformed_names_the_problem():
    bad = (
        ("", "plaintext: empty, expected at least the code byte"),
        ("01ff", "plaintext: payload marker with no payload"),
        ("01d1", "plaintext: option delta cut short"),
        ("01e1aa", "plaintext: option delta cut short"),
        ("01f0", "plaintext: option delta nibble 15 is reserved"),
        ("011f", "plaintext: option length nibble 15 is reserved"),
        ("01b3aa", "plaintext: option 11 value of 3 bytes cut short"),
    )
    for value, msg in bad:
        e = raises(DecodeFailed, wire.decode_plaintext, h(value), len(h(value)))
        assert e.message == msg, (value, e.message)
        assert e.code == 128


def test_plaintext__more_than_24_options_is_refused_before_the_list_grows():
    from firmware import coap

    assert wire.MAX_OPTIONS == coap.MAX_OPTIONS == 24
    ok = bytearray(b"\x01" + b"\x00" * 24)
    assert len(wire.decode_plaintext(ok, len(ok))[1]) == 24
    flood = bytearray(b"\x01" + b"\x00" * 1020)
    e = raises(DecodeFailed, wire.decode_plaintext, flood, len(flood))
    assert e.message == "plaintext: more than 24 options" and e.code == 128


def test_split_options__class_u_stays_outside():
    inner, outer = wire.split_options([(3, b"localhost"), (11, b"tv1"), (7, b"\x16\x33"),
                                       (12, b"\x3c")])
    assert inner == [(11, b"tv1"), (12, b"\x3c")]
    assert outer == [(3, b"localhost"), (7, b"\x16\x33")]


def test_aad__appendix_c_and_protocol_cbor():
    assert hx(wire.aad(b"", b"\x14")) == "8368456e63727970743040488501810a40411440"  # C.4
    assert hx(wire.aad(b"\x00", b"\x14")) == "8368456e63727970743040498501810a4100411440"
    for kid, piv in ((b"", b"\x00"), (b"1234567", b"\x01\x02\x03\x04\x05")):
        ext = cbor.dumps([1, [10], kid, piv, b""])
        assert bytes(wire.aad(kid, piv)) == cbor.dumps(["Encrypt0", b"", ext])


def test_info__appendix_c1_and_c3():
    assert hx(wire.info(b"", None, "Key", 16)) == "8540f60a634b657910"
    assert hx(wire.info(b"\x01", None, "Key", 16)) == "854101f60a634b657910"
    assert hx(wire.info(b"", None, "IV", 13)) == "8540f60a6249560d"
    assert hx(wire.info(b"", h("37cbf3210017a2d3"), "Key", 16)) == \
        "85404837cbf3210017a2d30a634b657910"

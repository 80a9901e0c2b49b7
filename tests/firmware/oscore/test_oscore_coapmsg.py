# runs-on: micropython cpython
"""OSCORE on whole firmware/coap.Message objects, through encode/decode on the wire: Class U
options stay outside, the rest is encrypted, and unprotected messages are refused."""
from firmware import coap
from firmware.oscore import coapmsg
from firmware.oscore.context import SecurityContext
from firmware.oscore.errors import Unprotected
from oscore_helpers import raises

SECRET = b"\x5a" * 16


def pair():
    dev = SecurityContext(SECRET, b"\x2a", b"")
    fleet = SecurityContext(SECRET, b"", b"\x2a")
    dev.window.init_empty()
    fleet.window.init_empty()
    return dev, fleet


def wire(msg):
    return coap.Message.decode(msg.encode())


def test_request_and_response__round_trip_over_the_wire():
    dev, fleet = pair()
    m = coap.Message(coap.N.CON, coap.N.POST, 7, b"\x01\x02", b"\x01", path=("valve", "close"),
                     cf=60)
    m.add_option(3, b"device.local")  # Uri-Host: Class U, stays outside
    binding = coapmsg.protect_request(fleet, m)
    sent = wire(m)
    assert sent.code == coap.N.POST
    assert sent.path == () and sent.cf is None  # Uri-Path and Content-Format encrypted
    assert sent.option(3) == b"device.local" and sent.option(9) == b"\x09\x00"
    b2 = coapmsg.unprotect_request(dev, sent)
    assert sent.path == ("valve", "close") and sent.cf == 60 and sent.payload == b"\x01"
    assert sent.option(3) == b"device.local" and sent.option(9) is None
    r = coap.Message(coap.N.ACK, coap.N.CHANGED, 7, b"\x01\x02", b"\xa1\x00\xf5", cf=60)
    coapmsg.protect_response(dev, b2, r)
    got = wire(r)
    assert got.code == coap.N.CHANGED and got.cf is None and got.option(9) == b""
    coapmsg.unprotect_response(fleet, binding, got)
    assert (got.code, got.cf, got.payload) == (coap.N.CHANGED, 60, b"\xa1\x00\xf5")


def test_unprotected__refused_with_401():
    dev, _ = pair()
    m = wire(coap.Message(coap.N.CON, coap.N.POST, 1, b"", b"", path=("valve", "close")))
    e = raises(Unprotected, coapmsg.unprotect_request, dev, m)
    assert e.code == 129 and e.message == "request without an OSCORE option"
    m.add_option(9, b"\x09\x00\x2a")
    m.add_option(9, b"\x09\x01\x2a")
    e = raises(Unprotected, coapmsg.unprotect_request, dev, m)
    assert e.message == "request: more than one OSCORE option"
    assert m.path == ("valve", "close")  # untouched
    assert dev.counts == {"unprotected": 2}

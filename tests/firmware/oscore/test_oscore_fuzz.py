"""CPython only: random and mutated input into the OSCORE parsers and the unprotect paths never
raises anything but an OscoreError, and never changes the replay window unless the message was
genuine (a short run; the long run is issue 10's fuzzing benchmark)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.oscore import wire
from firmware.oscore.context import Binding, SecurityContext
from firmware.oscore.errors import OscoreError

SECRET = bytes(range(16))


def pair():
    dev = SecurityContext(SECRET, b"\x2a", b"")
    fleet = SecurityContext(SECRET, b"", b"\x2a")
    dev.window.init_empty()
    return dev, fleet


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=40))
def test_decode_option__only_oscore_errors(value):
    try:
        piv, kid, ctx = wire.decode_option(value)
    except OscoreError:
        return
    assert wire.decode_option(wire.encode_option(piv, kid, ctx)) == (piv, kid, ctx)


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=120))
def test_decode_plaintext__only_oscore_errors(data):
    try:
        code, options, payload = wire.decode_plaintext(data, len(data))
    except OscoreError:
        return
    if any(num == 9 for num, _ in options):
        return  # decodable, but we never protect an inner OSCORE option
    buf, n = wire.plaintext_into(code, options, payload, 0)
    assert wire.decode_plaintext(buf, n) == (code, options, payload)


@settings(max_examples=1000, deadline=None)
@given(opt=st.binary(max_size=20), payload=st.binary(max_size=60))
def test_unprotect__random_messages_are_refused_cleanly(opt, payload):
    dev, _ = pair()
    try:
        dev.unprotect_request(opt, payload)
    except OscoreError:
        pass
    else:
        raise AssertionError("a random message was accepted")
    try:
        dev.unprotect_response(Binding(b"\x2a", b"\x01", False), opt, payload)
    except OscoreError:
        pass
    else:
        raise AssertionError("a random response was accepted")
    assert dev.window.top == -1


@settings(max_examples=500, deadline=None)
@given(data=st.data())
def test_unprotect__mutated_genuine_requests_are_refused(data):
    dev, fleet = pair()
    _, opt, ct, _ = fleet.protect_request(2, [(11, b"valve"), (11, b"close")], b"\x01")
    opt, ct = bytearray(opt), bytearray(ct)
    target = data.draw(st.sampled_from(["opt", "ct"]))
    buf = opt if target == "opt" else ct
    i = data.draw(st.integers(0, len(buf) - 1))
    buf[i] ^= data.draw(st.integers(1, 255))
    try:
        dev.unprotect_request(bytes(opt), bytes(ct))
    except OscoreError:
        assert dev.window.top == -1
    else:
        raise AssertionError("a mutated request was accepted")

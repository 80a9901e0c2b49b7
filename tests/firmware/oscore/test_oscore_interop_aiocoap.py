"""The firmware's OSCORE against aiocoap's (the fleet's), both directions, requests and
responses, on CPython: aiocoap's FilesystemSecurityContext is the fleet side, as a fleet
would keep it on disk; the firmware context is the device side.

Also the two recoveries after a reboot (RFC 8613 Appendix B.1.2): each side's replay window is
lost, and the other side completes the Echo round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aiocoap import CHANGED, CONTENT, GET, POST, UNAUTHORIZED, Message
from aiocoap import oscore as ao
from aiocoap.message import Direction

from firmware.oscore import SecurityContext, echo_challenge
from firmware.oscore.errors import DecryptionFailed, EchoRequired, ReplayDetected

SECRET = bytes.fromhex("5ae2b7c1d2f0aa11930457cf0e6d8b21")
SALT = bytes.fromhex("c0ffee0011223344")
DEVICE_ID = b"\x2a"  # the device's Sender ID = the fleet's Recipient ID
FLEET_ID = b""
URI_PATH = 11
CONTENT_FORMAT = 12
ECHO = 252
HEARTBEAT = bytes(range(100))  # a typical 100-byte SenML heartbeat payload


def fleet_context(tmp_path: Path, *, window_lost: bool = False,
                  id_context: bytes | None = None) -> ao.FilesystemSecurityContext:
    """aiocoap's context for the device, as the fleet keeps it; `window_lost` = the fleet
    restarted without a clean shutdown (aiocoap then recovers through Echo)."""
    d = tmp_path / "fleet-ctx"
    d.mkdir(exist_ok=True)
    settings = {"sender-id_hex": FLEET_ID.hex(), "recipient-id_hex": DEVICE_ID.hex(),
                "secret_hex": SECRET.hex(), "salt_hex": SALT.hex()}
    if id_context is not None:
        settings["id-context_hex"] = id_context.hex()
    (d / "settings.json").write_text(json.dumps(settings))
    if window_lost:
        (d / "sequence.json").write_text(json.dumps({"next-to-send": 100, "received": "unknown"}))
    return ao.FilesystemSecurityContext(str(d))


def device_context(id_context: bytes | None = None) -> SecurityContext:
    return SecurityContext(SECRET, DEVICE_ID, FLEET_ID, master_salt=SALT, id_context=id_context)


def incoming(code, option: bytes, payload: bytes) -> Message:
    m = Message(code=code, payload=bytes(payload))
    m.opt.oscore = bytes(option)
    m.direction = Direction.INCOMING
    return m


def as_incoming(outer: Message) -> Message:
    return incoming(outer.code, outer.opt.oscore, outer.payload)


def our_options(msg: Message) -> list[tuple[int, bytes]]:
    return [(o.number, o.encode()) for o in msg.opt.option_list()]


@pytest.mark.parametrize("id_context", [None, bytes.fromhex("37cbf3210017a2d3")])
def test_device_request__fleet_unprotects_and_answers(tmp_path, id_context):
    fleet = fleet_context(tmp_path, id_context=id_context)
    dev = device_context(id_context)
    for n in range(3):
        outer, opt, ct, binding = dev.protect_request(
            POST.value, [(URI_PATH, b"hb"), (CONTENT_FORMAT, b"\x70")], HEARTBEAT)
        assert outer == POST.value
        plain, request_id = fleet.unprotect(incoming(outer, opt, ct))
        assert plain.code == POST and plain.opt.uri_path == ("hb",)
        assert plain.opt.content_format == 112 and plain.payload == HEARTBEAT
        # the fleet answers with a piggy-backed 2.04 carrying a command offer
        answer = Message(code=CHANGED, payload=b"\xa1\x01\x02" + bytes([n]))
        protected, _ = fleet.protect(answer, request_id)
        code, options, payload = dev.unprotect_response(
            binding, protected.opt.oscore, protected.payload)
        assert (code, options, payload) == (CHANGED.value, [], b"\xa1\x01\x02" + bytes([n]))


def test_fleet_request__device_unprotects_and_answers(tmp_path):
    fleet = fleet_context(tmp_path)
    dev = device_context()
    dev.window.init_empty()
    for path in (("valve", "close"), ("health",), ("selftest",)):
        req = Message(code=POST if path[0] != "health" else GET, uri_path=path,
                      payload=b"\x01" if path[0] == "valve" else b"")
        protected, request_id = fleet.protect(req)
        code, options, payload, binding = dev.unprotect_request(
            protected.opt.oscore, protected.payload)
        assert code == req.code.value
        assert options == our_options(req) and payload == req.payload
        outer, opt, ct = dev.protect_response(binding, CONTENT.value, [(CONTENT_FORMAT, b"\x3c")],
                                              b"\xa1\x00\xf5")
        plain, _ = fleet.unprotect(incoming(outer, opt, ct), request_id)
        assert plain.code == CONTENT and plain.opt.content_format == 60
        assert plain.payload == b"\xa1\x00\xf5"


def test_fleet_request__replayed_to_the_device_is_refused(tmp_path):
    fleet = fleet_context(tmp_path)
    dev = device_context()
    dev.window.init_empty()
    protected, _ = fleet.protect(Message(code=POST, uri_path=("valve", "close")))
    dev.unprotect_request(protected.opt.oscore, protected.payload)
    with pytest.raises(ReplayDetected):
        dev.unprotect_request(protected.opt.oscore, protected.payload)


def test_device_request__replayed_to_the_fleet_is_refused(tmp_path):
    fleet = fleet_context(tmp_path)
    dev = device_context()
    _, opt, ct, _ = dev.protect_request(POST.value, [(URI_PATH, b"ev")], b"all clear")
    fleet.unprotect(incoming(POST, opt, ct))
    with pytest.raises(ao.ReplayError):
        fleet.unprotect(incoming(POST, opt, ct))


def test_wrong_key__refused_both_ways(tmp_path):
    fleet = fleet_context(tmp_path)
    impostor = SecurityContext(b"\x00" * 16, DEVICE_ID, FLEET_ID, master_salt=SALT)
    _, opt, ct, _ = impostor.protect_request(POST.value, [(URI_PATH, b"ev")], b"all clear")
    with pytest.raises(ao.ProtectionInvalid):
        fleet.unprotect(incoming(POST, opt, ct))
    dev = device_context()
    dev.window.init_empty()
    other = tmp_path / "other"
    other.mkdir()
    (other / "settings.json").write_text(json.dumps({
        "sender-id_hex": "", "recipient-id_hex": "2a", "secret_hex": "11" * 16}))
    forged, _ = ao.FilesystemSecurityContext(str(other)).protect(
        Message(code=POST, uri_path=("valve", "close")))
    with pytest.raises(DecryptionFailed):
        dev.unprotect_request(forged.opt.oscore, forged.payload)
    assert dev.window.top == -1


def test_device_reboot__fleet_completes_the_echo_round_trip(tmp_path):
    """The device's replay window is gone after a reboot; the fleet's command is challenged
    with a protected 4.01 + Echo and accepted when repeated with it (what aiocoap's client
    transport does by itself)."""
    fleet = fleet_context(tmp_path)
    dev = device_context()  # just booted: window not ready
    req = Message(code=POST, uri_path=("valve", "close"))
    protected, request_id = fleet.protect(req)
    with pytest.raises(EchoRequired) as exc:
        dev.unprotect_request(protected.opt.oscore, protected.payload)
    e = exc.value
    outer, opt, ct = dev.protect_response(e.binding, e.code, [(ECHO, e.echo)], b"")
    plain, _ = fleet.unprotect(incoming(outer, opt, ct), request_id)
    assert plain.code == UNAUTHORIZED and plain.opt.echo == dev.echo
    retry, _ = fleet.protect(req.copy(echo=plain.opt.echo))
    code, options, _, binding = dev.unprotect_request(retry.opt.oscore, retry.payload)
    assert code == POST.value and (URI_PATH, b"close") in options
    assert binding.reuse and dev.window.ready


def test_fleet_restart__device_completes_the_echo_round_trip(tmp_path):
    """aiocoap's context restarted without its replay window: it answers the device's uplink
    with 4.01 + Echo; the device repeats the uplink with the Echo and it is accepted."""
    fleet = fleet_context(tmp_path, window_lost=True)
    dev = device_context()
    options = [(URI_PATH, b"hb")]
    _, opt, ct, binding = dev.protect_request(POST.value, options, HEARTBEAT)
    with pytest.raises(ao.ReplayErrorWithEcho) as exc:
        fleet.unprotect(incoming(POST, opt, ct))
    challenge = exc.value.to_message()
    code, ropts, _ = dev.unprotect_response(binding, challenge.opt.oscore, challenge.payload)
    echo = echo_challenge(code, ropts)
    assert echo is not None
    _, opt2, ct2, binding2 = dev.protect_request(POST.value, options + [(ECHO, echo)], HEARTBEAT)
    plain, request_id = fleet.unprotect(incoming(POST, opt2, ct2))
    assert plain.payload == HEARTBEAT and plain.opt.uri_path == ("hb",)
    answer, _ = fleet.protect(Message(code=CHANGED), request_id)
    assert dev.unprotect_response(binding2, answer.opt.oscore, answer.payload)[0] == 68

"""The firmware's OSCORE on the real MicroPython interpreter talking to aiocoap over UDP on
127.0.0.1, both ways: the device's uplinks to an aiocoap server whose site is wrapped in
aiocoap's OSCORE (as the fleet's), and aiocoap's OSCORE client sending commands to the device.
Covers the Echo round trip after a restart of either side, and refusals of unprotected and
wrong-key requests. The device side is tests/firmware/oscore/oscore_udp_peer.py."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
from pathlib import Path

import aiocoap
from aiocoap import resource
from aiocoap import oscore as ao
from aiocoap.credentials import CredentialsMap
from aiocoap.oscore_sitewrapper import OscoreSiteWrapper

from utils.micropython import micropython_binary

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
PEER = HERE / "oscore_udp_peer.py"
SECRET = bytes.fromhex("5ae2b7c1d2f0aa11930457cf0e6d8b21")
SALT = bytes.fromhex("c0ffee0011223344")
DEVICE_ID = b"\x2a"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fleet_context(d: Path, *, window_lost: bool = False, secret: bytes = SECRET,
                  device_id: bytes = DEVICE_ID,
                  id_context: bytes | None = None) -> ao.FilesystemSecurityContext:
    d.mkdir(parents=True, exist_ok=True)
    settings = {"sender-id_hex": "", "recipient-id_hex": device_id.hex(),
                "secret_hex": secret.hex(), "salt_hex": SALT.hex()}
    if id_context is not None:
        settings["id-context_hex"] = id_context.hex()
    (d / "settings.json").write_text(json.dumps(settings))
    if window_lost:
        (d / "sequence.json").write_text(json.dumps({"next-to-send": 7, "received": "unknown"}))
    return ao.FilesystemSecurityContext(str(d))


def start_peer(mode: str, port: int, seq_path: Path, count: int,
               extra: tuple[str, ...] = ()) -> subprocess.Popen:
    env = dict(os.environ, MICROPYPATH=os.pathsep.join([str(HERE), str(REPO)]))
    return subprocess.Popen(
        [micropython_binary(), "-X", "heapsize=160k", str(PEER), mode, str(port), str(seq_path),
         str(count), *extra], env=env, cwd=str(HERE), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)


class Heartbeats(resource.Resource):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[bytes] = []

    async def render_post(self, request):
        assert request.opt.content_format == 112
        self.seen.append(request.payload)
        return aiocoap.Message(code=aiocoap.CHANGED, payload=b"\xa1\x01" + bytes([len(self.seen)]))


async def _fleet_server(fleet: ao.FilesystemSecurityContext, count: int, seq_path: Path,
                        extra: tuple[str, ...] = ()):
    hb = Heartbeats()
    site = resource.Site()
    site.add_resource(["hb"], hb)
    creds = CredentialsMap()
    creds[":device"] = fleet
    for attempt in range(5):  # a free port can be taken by a parallel test before we bind it
        port = free_port()
        try:
            server = await aiocoap.Context.create_server_context(
                OscoreSiteWrapper(site, creds), bind=("127.0.0.1", port))
            break
        except OSError:
            if attempt == 4:
                raise
    try:
        proc = start_peer("client", port, seq_path, count, extra)
        out, err = await asyncio.wait_for(asyncio.to_thread(proc.communicate), 60)
    finally:
        await server.shutdown()
    assert proc.returncode == 0, err
    return out.splitlines(), hb


def test_device_uplinks__aiocoap_server_accepts_and_answers(tmp_path):
    lines, hb = asyncio.run(_fleet_server(fleet_context(tmp_path / "fleet"), 3, tmp_path / "seq"))
    assert hb.seen == [bytes(range(100))] * 3
    resp = [ln for ln in lines if ln.startswith("RESP")]
    # datagram: 4 header + 2 token + OSCORE option (1 + flags, Partial IV, kid 2a) + marker
    # + ciphertext (code, Uri-Path hb, Content-Format, marker, 100 bytes, 8-byte tag)
    assert resp == ["RESP 68 a10101 1 wire 126", "RESP 68 a10102 2 wire 126",
                    "RESP 68 a10103 3 wire 126"]
    assert lines[0] == "EVENT oscore_seq_new" and lines[-1] == "DONE"


def test_device_uplinks__with_the_fleets_provisioning_shape(tmp_path):
    """What fleet/provision issues: a 4-byte Sender ID and an 8-byte ID Context, which the
    device sends as kid context (aiocoap finds the context by kid and kid context)."""
    sid, cid = bytes.fromhex("a1b2c3d4"), bytes.fromhex("0011223344556677")
    fleet = fleet_context(tmp_path / "fleet", device_id=sid, id_context=cid)
    lines, hb = asyncio.run(_fleet_server(fleet, 2, tmp_path / "seq", (sid.hex(), cid.hex())))
    assert hb.seen == [bytes(range(100))] * 2
    # 13 more bytes than above: kid 4 bytes instead of 1 (+3), kid context s + 8 bytes (+9),
    # and the option value is now 15 bytes long, which takes an extended length byte (+1)
    assert [ln for ln in lines if ln.startswith("RESP")] == [
        "RESP 68 a10101 1 wire 139", "RESP 68 a10102 2 wire 139"]


def test_device_reboot__continues_without_reusing_a_sequence_number(tmp_path):
    seq = tmp_path / "seq"
    fleet = fleet_context(tmp_path / "fleet")
    asyncio.run(_fleet_server(fleet, 2, seq))
    # the device reboots (a new interpreter, the same seq file); the fleet keeps its context
    lines, hb = asyncio.run(_fleet_server(fleet, 2, seq))
    assert "EVENT oscore_seq_new" not in lines
    # block of 4: first boot used 0, 1 (limit 4); the second starts at 4
    assert [ln.split()[3] for ln in lines if ln.startswith("RESP")] == ["5", "6"]
    assert len(hb.seen) == 2  # aiocoap's replay window accepted both


def test_fleet_restart__device_answers_the_echo_challenge(tmp_path):
    fleet = fleet_context(tmp_path / "fleet", window_lost=True)
    lines, hb = asyncio.run(_fleet_server(fleet, 1, tmp_path / "seq"))
    assert any(ln.startswith("ECHO ") for ln in lines), lines
    # the repeated uplink carries the 8-byte Echo inside: + 10 bytes (header, delta, value)
    assert [ln for ln in lines if ln.startswith("RESP")] == ["RESP 68 a10101 2 wire 136"]
    assert len(hb.seen) == 1


async def _fleet_client(tmp_path: Path, requests) -> tuple[list[str], list]:
    for attempt in range(5):  # the port can be taken by a parallel test before the peer binds
        port = free_port()
        proc = start_peer("server", port, tmp_path / "seq", sum(1 for r in requests if r[2]))
        head = []
        while not head or head[-1] != "READY":  # events of the boot, then READY
            line = proc.stdout.readline()
            if not line:
                break
            head.append(line.strip())
        if head and head[-1] == "READY":
            break
        err = proc.stderr.read()
        proc.wait()
        assert "EADDRINUSE" in err and attempt < 4, err
    client = await aiocoap.Context.create_client_context()
    results = []
    try:
        for ctx, path, _ok in requests:
            uri = "coap://127.0.0.1:%d/%s" % (port, path)
            if ctx is not None:
                client.client_credentials["coap://127.0.0.1:%d/*" % port] = ctx
            msg = aiocoap.Message(code=aiocoap.POST, uri=uri, payload=b"\x01")
            try:
                results.append(await asyncio.wait_for(client.request(msg).response, 20))
            except ao.NotAProtectedMessage as e:  # an error the device could not protect
                results.append(e.plain_message)
    finally:
        await client.shutdown()
    out, err = await asyncio.wait_for(asyncio.to_thread(proc.communicate), 30)
    assert proc.returncode == 0, err
    return head + out.splitlines(), results


def test_fleet_commands__device_unprotects_echoes_and_refuses(tmp_path):
    good = fleet_context(tmp_path / "fleet")
    requests = [
        (None, "valve/close", False),  # unprotected: 4.01
        (good, "valve/close", True),  # Echo round trip (device just booted), then accepted
        (good, "selftest", True),
    ]
    lines, results = asyncio.run(_fleet_client(tmp_path, requests))
    assert results[0].code == aiocoap.UNAUTHORIZED and results[0].payload == b"OSCORE required"
    assert results[1].code == aiocoap.CHANGED and results[1].payload == b"\xa1\x00\xf5"
    assert results[2].code == aiocoap.CHANGED
    assert [ln for ln in lines if ln.startswith("REQ")] == ["REQ 2 valve/close 01",
                                                            "REQ 2 selftest 01"]
    assert sum(1 for ln in lines if ln.startswith("ECHO")) == 1
    assert "REFUSED 129 request without an OSCORE option" in lines


def test_fleet_commands__wrong_key_is_refused(tmp_path):
    bad = fleet_context(tmp_path / "bad", secret=b"\x11" * 16)
    good = fleet_context(tmp_path / "fleet")
    lines, results = asyncio.run(_fleet_client(tmp_path, [(bad, "valve/close", False),
                                                          (good, "valve/close", True)]))
    assert results[0].code == aiocoap.BAD_REQUEST
    assert results[0].payload == b"Decryption failed"
    assert results[1].code == aiocoap.CHANGED
    assert any(ln.startswith("REFUSED 128 request: AES-CCM tag mismatch") for ln in lines)

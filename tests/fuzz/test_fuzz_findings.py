"""Findings of the fuzzers in code this area does not own, each held as a test with its input.

The xfail(strict=True) tests fail today and are reported (docs/fuzzing.md, "Findings"); when
the owner fixes one, its test passes, strict xfail turns that into a failure, and the marker is
removed so the test guards the fix. The plain tests pin down how the system survives them now.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from pathlib import Path

import pytest

from bench.fuzz.mp import REPO, micropython

NON_UTF8_PATH_POST = bytes.fromhex("44021234" "01020304" "b2fffe")  # CON POST Uri-Path b"\xff\xfe"


def _endpoint_answer(datagram: bytes) -> int:
    """The code the firmware endpoint (CPython, the device's resources) answers datagram with."""
    from bench.fuzz.targets import _Commands, _Sock
    from firmware import coapnet, resources
    from firmware.coap import Message

    sock = _Sock()
    ep = coapnet.Endpoint(sock, resources.site(lambda: {}, _Commands()), clock=lambda: 0, rand=lambda: 0)
    ep.datagram(datagram, ("127.0.0.1", 5683))
    return Message.decode(sock.sent[-1][0]).code


@pytest.mark.xfail(strict=True, reason="firmware/coap.py Message.path decodes Uri-Path as UTF-8 and "
                   "firmware/coapnet.py Site.render lets UnicodeError out: the endpoint answers 5.00")
def test_firmware_endpoint__non_utf8_uri_path_is_a_client_error():
    code = _endpoint_answer(NON_UTF8_PATH_POST)
    assert code >> 5 == 4, "answered %d.%02d" % (code >> 5, code & 31)


def test_firmware_endpoint__non_utf8_uri_path_still_gets_an_answer_today():
    assert _endpoint_answer(NON_UTF8_PATH_POST) == 0xA0  # 5.00, and the endpoint goes on


@pytest.mark.micropython
@pytest.mark.xfail(strict=False, reason="firmware/coap.py Message.decode keeps every option with no limit: "
                   "1,020 empty options in a 1 KB datagram allocate ~200 KB and hold ~40 KB, "
                   "MemoryError with the heap a running app leaves free")
def test_firmware_coap__option_flood_is_refused_not_memory_error(tmp_path: Path):
    script = tmp_path / "flood.py"
    script.write_text(
        "from firmware.coap import Message, UnparsableMessage\n"
        "try:\n"
        "    Message.decode(b'\\x40\\x01\\x00\\x01' + b'\\x00' * 1020)\n"
        "    print('decoded')\n"
        "except UnparsableMessage:\n"
        "    print('refused')\n"
        "except MemoryError:\n"
        "    print('MemoryError')\n")
    env = dict(os.environ, MICROPYPATH=str(REPO))
    # 64 KB heap: about 47 KB free after the import, what the whole app leaves free on a
    # 197 KB heap is of that order (docs/firmware.md, footprint)
    out = subprocess.run([micropython(), "-X", "heapsize=64k", str(script)], env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout.strip()
    assert out in ("decoded", "refused")


@pytest.mark.xfail(strict=True, reason="bench/perf/proto_ingest.py LeanIngest.handle catches ValueError, "
                   "but cbor2 6's CBORDecodeError is not one: the exception leaves datagram_received")
def test_proto_ingest__malformed_cbor_is_answered_4_00():
    from bench.perf.proto_ingest import LeanIngest

    lean = LeanIngest("sqlite://", 247.0, "fast")
    sent: list[bytes] = []
    lean.send = lambda data, addr: sent.append(data)
    # CON POST /gg/hb, CF 112, payload: a text string cut short
    datagram = bytes.fromhex("44021236" "01020304" "b2676702" "6862" "1170" "ff" "7801")
    assert lean.handle(datagram, ("127.0.0.1", 1))
    assert sent and sent[-1][1] == 0x80


def test_fleet_coap__non_utf8_uri_path_is_dropped_and_the_server_goes_on():
    """aiocoap raises UnicodeDecodeError out of Message.decode for a string option that is not
    UTF-8; its transport logs it and drops the datagram (no RST). The fleet's server answers
    the next request as usual."""
    import aiocoap

    from fleet.coap.server import build_site
    from fleet.coap.tuning import message_managers
    from fleet.ingest.counters import ErrorCounter

    async def scenario() -> bytes | None:
        ctx = await aiocoap.Context.create_server_context(build_site(None, ErrorCounter()),  # type: ignore[arg-type]
                                                          bind=("127.0.0.1", 0))
        port = next(mm.message_interface.transport.get_extra_info("socket").getsockname()[1]
                    for mm in message_managers(ctx) if getattr(mm.message_interface, "transport", None))
        loop = asyncio.get_running_loop()
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        c.setblocking(False)
        try:
            c.sendto(NON_UTF8_PATH_POST, ("127.0.0.1", port))
            await asyncio.sleep(0.2)
            c.sendto(bytes.fromhex("41010777" "5a" "bb2e77656c6c2d6b6e6f776e04636f7265"), ("127.0.0.1", port))
            return await asyncio.wait_for(loop.sock_recv(c, 2048), 5)
        finally:
            c.close()
            await ctx.shutdown()

    answer = asyncio.run(scenario())
    assert answer is not None and answer[1] == 0x45 and answer[2:4] == b"\x07\x77"  # 2.05 to our GET


# an 847-byte heartbeat whose "up" is an indefinite array of ~830 one-byte integers (cut short):
# the decoder's list grows to 1,024 slots, an 8 KB block (found by the MicroPython loop)
HEARTBEAT_LONG_ARRAY = bytes.fromhex(
    "a5616b64626f6f746275709f00636465766f67672d613433303030302f302f312f302f312f302f312f302f312f302f31"
    "2f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f31"
    "2f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f31"
    "2f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f31"
    "2f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f31"
    "2f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f31"
    "2f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f31"
    "2f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f31"
    "2f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f31"
    "2f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f31"
    "2f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f31"
    "2f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f31"
    "2f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f31"
    "2f302f312f302fa12f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f31"
    "2f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f31"
    "2f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f31"
    "2f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f312f302f31"
    "2f302f312f302f312f302f312f302f312f302f312f302f312f302f31330200")


@pytest.mark.micropython
@pytest.mark.xfail(strict=False, reason="protocol.messages.decode has no item limit below cbor's MAX_LEN "
                   "(65536): a 1 KB message can need an 8 KB list, MemoryError on a fragmented 160 KB heap")
def test_protocol_messages__long_array_in_a_heartbeat_on_micropython(tmp_path: Path):
    # replayed through the MicroPython loop as it found it (its heap: the loop, the corpus and
    # the protocol modules compiled from source, 160 KB)
    corpus = tmp_path / "one.hex"
    corpus.write_text(HEARTBEAT_LONG_ARRAY.hex() + "\n")
    env = dict(os.environ, MICROPYPATH=os.pathsep.join([str(REPO), str(REPO / "bench" / "fuzz")]))
    out = subprocess.run([micropython(), "-X", "heapsize=160k", str(REPO / "bench" / "fuzz" / "mp_loop.py"),
                          "messages.heartbeat", "1", "1", str(corpus)], env=env, capture_output=True,
                         text=True, timeout=60, check=True, cwd=str(REPO)).stdout
    fields = next(line for line in out.splitlines() if line.startswith("RESULT|")).split("|")
    assert (fields[3], fields[5]) == ("1", "0"), fields[9]  # refused, no crash

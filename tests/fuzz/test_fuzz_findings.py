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


def test_firmware_endpoint__non_utf8_uri_path_is_a_client_error():
    # fixed: Message.path raises BadRequest, the site answers 4.00 (was 5.00)
    assert _endpoint_answer(NON_UTF8_PATH_POST) == 0x80


@pytest.mark.micropython
def test_firmware_coap__option_flood_is_refused_not_memory_error(tmp_path: Path):
    # fixed: Message.decode keeps at most MAX_OPTIONS (24) options and marks the request
    # refused (4.02); wire.decode_plaintext refuses a 25th option before its list grows.
    # micropython.mem_total() counts every byte allocated: a 1,020-option flood allocated
    # ~173 KB in each before the fix; now about what 30 options cost (~5 KB)
    script = tmp_path / "flood.py"
    script.write_text(
        "import gc, micropython\n"
        "from firmware.coap import BadOption, Message\n"
        "from firmware.oscore import wire\n"
        "from firmware.oscore.errors import DecodeFailed\n"
        "for n in (30, 1020):\n"
        "    data = b'\\x40\\x01\\x00\\x01' + b'\\x00' * n\n"
        "    buf = bytearray(b'\\x01' + b'\\x00' * n)\n"
        "    gc.collect()\n"
        "    t = micropython.mem_total()\n"
        "    m = Message.decode(data)\n"
        "    coap = micropython.mem_total() - t\n"
        "    try:\n"
        "        m.path\n"
        "    except BadOption:\n"
        "        coap = 'refused:%d' % coap\n"
        "    t = micropython.mem_total()\n"
        "    try:\n"
        "        wire.decode_plaintext(buf, len(buf))\n"
        "    except DecodeFailed:\n"
        "        oscore = 'refused:%d' % (micropython.mem_total() - t)\n"
        "    print(n, coap, oscore)\n")
    env = dict(os.environ, MICROPYPATH=str(REPO))
    # 96 KB heap: the OSCORE package compiled from source needs most of it
    out = subprocess.run([micropython(), "-X", "heapsize=96k", str(script)], env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout.split()
    assert [w.split(":")[0] for w in out] == ["30", "refused", "refused", "1020", "refused", "refused"], out
    few, flood = [int(w.split(":")[1]) for w in out[1:3]], [int(w.split(":")[1]) for w in out[4:6]]
    assert all(f <= g + 1024 for f, g in zip(flood, few)), (few, flood)  # not in proportion to the input


def test_proto_ingest__malformed_cbor_is_answered_4_00():
    # fixed: LeanIngest.handle catches cbor2's CBORDecodeError (not a ValueError in cbor2 6)
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
def test_protocol_messages__long_array_in_a_heartbeat_on_micropython(tmp_path: Path):
    # fixed: messages.decode passes MAX_ITEMS[kind] (48 for a heartbeat) to the CBOR decoder,
    # so the array is refused at its 49th item with a MessageError naming heartbeat.up
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

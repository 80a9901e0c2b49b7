"""Measure how aiocoap's duplicate-detection cache grows under steady load, with the RFC's
247 s lifetime and with the fleet's shorter one (docs/fleet.md quotes the result).

    python -m fleet.coap.measure_dedup --rate 1000 --seconds 60 --lifetime 247 --lifetime 30

For each lifetime a bare aiocoap server (one POST resource that answers 2.04, no store) runs in a
child process; this process plays 64 devices (64 UDP sockets, so message ids do not wrap) sending
confirmable POSTs with a 61-byte payload at a fixed rate, and samples the server's resident memory
(/proc/<pid>/status VmRSS) and the number of remembered message ids every 5 s. Loopback only;
stops by itself. Not a unit test: it takes `seconds` per lifetime."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import struct
import subprocess
import sys
import time
from typing import Any

N_DEVICES = 64
PAYLOAD = bytes(61)


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def _serve(lifetime: float | None) -> None:
    import aiocoap
    import aiocoap.resource
    from aiocoap.numbers.codes import Code

    from fleet.coap.tuning import apply_dedup_lifetime, dedup_entries

    class Sink(aiocoap.resource.Resource):
        async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
            return aiocoap.Message(code=Code.CHANGED, payload=b"\xa2bst\x00bpc\x00")

    site = aiocoap.resource.Site()
    site.add_resource(("gg", "hb"), Sink())
    ctx = await aiocoap.Context.create_server_context(site, bind=("127.0.0.1", 0), transports=["udp6"])
    if lifetime is not None:
        apply_dedup_lifetime(ctx, lifetime)
    from fleet.coap.tuning import message_managers

    port = message_managers(ctx)[0].message_interface.transport.get_extra_info("socket").getsockname()[1]
    print(json.dumps({"port": port}), flush=True)
    while True:
        await asyncio.sleep(1.0)
        print(json.dumps({"entries": dedup_entries(ctx)}), flush=True)


def _con_post(mid: int, token: bytes) -> bytes:
    # CoAP header: ver 1, CON, TKL; code 0.02 POST; mid; token; Uri-Path gg, hb; Content-Format 112
    head = struct.pack("!BBH", 0x40 | len(token), 0x02, mid) + token
    opts = bytes([0xB2]) + b"gg" + bytes([0x02]) + b"hb" + bytes([0x11, 112])
    return head + opts + b"\xff" + PAYLOAD


async def _load(port: int, rate: float, seconds: float, proc: subprocess.Popen[str]) -> list[dict[str, Any]]:
    loop = asyncio.get_running_loop()
    socks = []
    for _ in range(N_DEVICES):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.connect(("127.0.0.1", port))
        socks.append(s)
    answered = 0

    def on_readable(s: socket.socket) -> None:
        nonlocal answered
        try:
            while True:
                s.recv(2048)
                answered += 1
        except BlockingIOError:
            pass

    for s in socks:
        loop.add_reader(s.fileno(), on_readable, s)
    entries = 0

    async def read_entries() -> None:
        nonlocal entries
        while True:
            line = await asyncio.to_thread(proc.stdout.readline)  # type: ignore[union-attr]
            if not line:
                return
            entries = json.loads(line).get("entries", entries)

    reader = asyncio.create_task(read_entries())
    mids = [random.randrange(65536) for _ in socks]
    samples: list[dict[str, Any]] = []
    t0 = time.monotonic()
    sent = 0
    next_sample = 0.0
    while True:
        elapsed = time.monotonic() - t0
        if elapsed >= seconds:
            break
        due = int(elapsed * rate)
        while sent < due:
            i = sent % N_DEVICES
            mids[i] = (mids[i] + 1) & 0xFFFF
            socks[i].send(_con_post(mids[i], struct.pack("!H", sent & 0xFFFF)))
            sent += 1
        if elapsed >= next_sample:
            samples.append({"t_s": round(elapsed), "sent": sent, "answered": answered, "dedup_entries": entries,
                            "rss_mb": round(_rss_kb(proc.pid) / 1024, 1)})
            next_sample += 5.0
        await asyncio.sleep(0.002)
    await asyncio.sleep(1.5)
    samples.append({"t_s": round(time.monotonic() - t0), "sent": sent, "answered": answered,
                     "dedup_entries": entries, "rss_mb": round(_rss_kb(proc.pid) / 1024, 1)})
    reader.cancel()
    for s in socks:
        loop.remove_reader(s.fileno())
        s.close()
    return samples


def measure(lifetime: float | None, rate: float, seconds: float) -> list[dict[str, Any]]:
    args = [sys.executable, "-m", "fleet.coap.measure_dedup", "--serve"]
    if lifetime is not None:
        args += ["--serve-lifetime", str(lifetime)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = json.loads(proc.stdout.readline())["port"]
        return asyncio.run(_load(port, rate, seconds, proc))
    finally:
        proc.terminate()
        proc.wait(10)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=1000.0, help="requests per second")
    ap.add_argument("--seconds", type=float, default=60.0, help="load duration per lifetime")
    ap.add_argument("--lifetime", type=float, action="append",
                    help="dedup lifetime(s) to compare, seconds (247 = aiocoap's RFC default)")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--serve-lifetime", type=float, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.serve:
        asyncio.run(_serve(a.serve_lifetime))
        return
    print(f"# aiocoap dedup cache at {a.rate:g} req/s for {a.seconds:g} s, {N_DEVICES} devices, pid {os.getpid()}")
    for lifetime in a.lifetime or [247.0, 30.0]:
        samples = measure(None if lifetime == 247.0 else lifetime, a.rate, a.seconds)
        print(f"\n## lifetime {lifetime:g} s")
        print("| t (s) | sent | answered | dedup entries | server RSS (MB) |")
        print("|---:|---:|---:|---:|---:|")
        for s in samples:
            print(f"| {s['t_s']} | {s['sent']} | {s['answered']} | {s['dedup_entries']} | {s['rss_mb']} |")


if __name__ == "__main__":
    main()

"""Malformed datagrams into a running virtual board, which must keep detecting and answering.

    python -m bench.fuzz.board --datagrams 100000 [--seed 1] [--rate 1500] [--json out.json]

The board (boards/sim: the real app on the `micropython` binary) runs with its CoAP endpoint
on a local port and a fleet address nobody answers (uplinks retry; nothing here needs them).
A sender thread streams mutations of genuine CoAP datagrams (bench/fuzz/targets.py's corpus
and protected OSCORE requests, bench/fuzz/mutator.py's PRNG) at `rate` per second. Halfway
through, a gas step (methane, 1.6 x the set point) is applied; the run passes when:
- the valve closes within the alarm window while the stream goes on (detection never waits on
  the network),
- the valve was open until the gas step (nothing in the stream acted: OSCORE is on, as on a
  deployed board),
- a plain GET /.well-known/core is answered 4.01 "OSCORE required" after the stream (the
  endpoint task is alive and still refuses unprotected requests),
- the board never died and its console shows no crashed task.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.fuzz.mutator import Rng, mutate

CONFIRM_S = 2  # alarm.confirm_s for the run: short, so the gas step's answer comes quickly


def _free_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _well_known_core(port: int, timeout: float = 5.0) -> bytes | None:
    """One confirmable GET /.well-known/core; the response datagram, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    req = bytes((0x41, 0x01, 0x7A, 0x01, 0x5A)) + b"\xbb.well-known\x04core"
    end = time.monotonic() + timeout
    try:
        while time.monotonic() < end:
            s.sendto(req, ("127.0.0.1", port))
            try:
                while True:
                    data, _ = s.recvfrom(2048)
                    if len(data) >= 5 and data[2:4] == b"\x7a\x01" and data[4] == 0x5A:
                        return data
            except TimeoutError:
                continue
    finally:
        s.close()
    return None


def _corpus() -> list[bytes]:
    from bench.fuzz.targets import TARGETS

    return TARGETS["endpoint.oscore"].load().seeds


def run(datagrams: int, *, seed: int = 1, rate: float = 1500.0, heapsize: str = "640k",
        workdir: Path | None = None) -> dict[str, Any]:
    """Stream `datagrams` mutated datagrams into a fresh virtual board; the figures and checks."""
    from boards.sim.board import VirtualBoard

    work = Path(workdir or tempfile.mkdtemp(prefix="gg-boardfuzz-"))
    os.environ.setdefault("GASGUARD_SIM_DIR", str(work / "registry"))
    coap_port, dead_fleet = _free_udp_port(), _free_udp_port()
    from bench.fuzz.targets import SECRET

    # OSCORE on, as on every deployed board: the stream carries genuine protected commands
    # (close valve, self-test) and their mutations; none may act (a replay only earns an Echo
    # challenge, a mutation fails its tag). Without OSCORE a plain POST /valve/close in the
    # stream would close the valve before the gas step and prove nothing.
    config = {"device_id": "gg-fuzz01", "fleet": {"host": "127.0.0.1", "port": dead_fleet},
              "coap_port": coap_port, "heartbeat_s": 60, "alarm": {"confirm_s": CONFIRM_S},
              "sensor": {"comparator": False},
              "oscore": {"master_secret": SECRET.hex(), "sender_id": "2a", "recipient_id": "",
                         "id_context": "0102"}}
    from boards.image import build_vfs_image

    (work / "board").mkdir(parents=True, exist_ok=True)
    image = work / "factory-vfs.img"  # the app as flashed (compiled .mpy), as on a real board
    image.write_bytes(build_vfs_image("sim"))
    # heapsize: the sim itself takes ~70 KB and its event log more; the app's own footprint is
    # firmware/footprint.py's business, not this run's
    board = VirtualBoard("sim", image=image, workdir=work / "board", heapsize=heapsize,
                         files={"/config.json": json.dumps(config).encode()})
    out: dict[str, Any] = {"datagrams": datagrams, "seed": seed, "rate": rate, "heapsize": heapsize}
    board.start()
    try:
        if _well_known_core(coap_port, 30.0) is None:
            raise RuntimeError("the board's CoAP endpoint did not answer before the stream")
        corpus = _corpus()
        rng = Rng(seed)
        sent = [0]
        replies = [0]
        stop = threading.Event()

        def sender() -> None:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
            t0 = time.monotonic()
            try:
                for i in range(datagrams):
                    if stop.is_set():
                        break
                    data = mutate(rng, corpus[rng.below(len(corpus))], corpus, max_len=1200)
                    try:
                        s.sendto(data, ("127.0.0.1", coap_port))
                    except OSError:
                        pass
                    sent[0] += 1
                    try:
                        while True:
                            s.recvfrom(2048)
                            replies[0] += 1
                    except OSError:
                        pass
                    ahead = (i + 1) / rate - (time.monotonic() - t0)
                    if ahead > 0:
                        time.sleep(ahead)
            finally:
                s.close()

        th = threading.Thread(target=sender, name="fuzz-sender", daemon=True)
        start = time.monotonic()
        th.start()
        while th.is_alive() and sent[0] < datagrams // 2:
            time.sleep(0.2)
        out["valve_before_gas"] = board.valve_state
        board.set_gas("methane", 40.0)
        out["sent_at_gas_step"] = sent[0]
        step = board.events_of("control")[-1]["t"]
        closed = board.wait_event(lambda e: e["ev"] == "valve" and e["v"] == "closed" and e["t"] >= step,
                                  CONFIRM_S + 30)
        out["valve_closed_after_ms"] = closed["t"] - step
        out["sent_at_valve_closed"] = sent[0]
        th.join()
        out["seconds"] = round(time.monotonic() - start, 1)
        out["sent"] = sent[0]
        out["replies"] = replies[0]
        answer = _well_known_core(coap_port, 15.0)
        out["well_known_core_after"] = None if answer is None else "%d.%02d" % (answer[1] >> 5, answer[1] & 31)
        console = bytes(board.console).decode(errors="replace")
        out["crashed_tasks"] = console.count("crashed (")
        out["board_dead"] = board.dead_reason or ""
        out["valve"] = board.valve_state
        out["valve_events"] = [(e["t"], e["v"]) for e in board.events if e["ev"] == "valve"][:10]
        out["gas_step_t"] = step
        out["ok"] = (out["well_known_core_after"] == "4.01" and not out["crashed_tasks"]
                     and not out["board_dead"] and out["valve_before_gas"] == "open"
                     and out["valve"] == "closed" and out["valve_closed_after_ms"] >= 0)
    finally:
        board.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fuzz.board", description=__doc__.split("\n\n")[0])
    p.add_argument("--datagrams", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rate", type=float, default=1500.0, help="datagrams per second")
    p.add_argument("--json", type=Path)
    a = p.parse_args(argv)
    r = run(a.datagrams, seed=a.seed, rate=a.rate)
    text = json.dumps(r, indent=1)
    print(text)
    if a.json:
        a.json.write_text(text)
    return 0 if r["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

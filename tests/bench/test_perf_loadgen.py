"""bench/perf/loadgen.py against small UDP servers that misbehave on purpose, and against the
baseline aiocoap server. Every datagram the generator sends is decoded by aiocoap and its payload
by protocol.messages, so the generator is held to the wire contract."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import aiocoap
import cbor2
import pytest
from aiocoap.numbers.codes import Code
from aiocoap.numbers.types import Type

from bench.perf import coapwire, loadgen, procs
from protocol import messages

KINDS = {("gg", "reg"): "registration", ("gg", "hb"): "heartbeat", ("gg", "ev"): "event"}
REPO = Path(__file__).resolve().parents[2]


class FakeServer(threading.Thread):
    """A CoAP responder on a blocking socket: decodes every request, answers per `mode`.

    mode "ok": piggy-backed 2.04; "drop_first": ignore the first copy of each message ID;
    "separate": empty ACK, then a CON 2.04 carrying the token (RFC 7252 §5.2.2);
    "silent": never answer."""

    def __init__(self, mode: str = "ok") -> None:
        super().__init__(daemon=True)
        self.mode = mode
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.stop_flag = threading.Event()
        self.seen_mids: set[tuple[object, int]] = set()
        self.requests: list[tuple[str, dict]] = []
        self.copies: Counter[tuple[object, int]] = Counter()
        self.empty_acks_back = 0
        self.errors: list[str] = []

    def run(self) -> None:
        mid = 0
        while not self.stop_flag.is_set():
            try:
                data, addr = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            msg = aiocoap.Message.decode(data)
            if msg.mtype == Type.ACK:
                self.empty_acks_back += 1
                continue
            key = (addr, msg.mid)
            self.copies[key] += 1
            if self.mode == "silent":
                continue
            if self.mode == "drop_first" and key not in self.seen_mids:
                self.seen_mids.add(key)
                continue
            if self.copies[key] == 1 or self.mode == "drop_first" and self.copies[key] == 2:
                try:
                    kind = KINDS[tuple(msg.opt.uri_path)]
                    self.requests.append((kind, messages.decode(kind, msg.payload)))
                except Exception as e:  # noqa: BLE001 - the test asserts none happened
                    self.errors.append("%s: %s" % (msg.opt.uri_path, e))
            ack_payload = cbor2.dumps({"st": 1, "pc": 0})
            if self.mode == "separate":
                self.sock.sendto(coapwire.header(coapwire.ACK, 0, 0, msg.mid), addr)
                mid += 1
                self.sock.sendto(coapwire.header(coapwire.CON, len(msg.token), coapwire.CHANGED, mid) + msg.token + b"\xff" + ack_payload, addr)
            else:
                self.sock.sendto(coapwire.header(coapwire.ACK, len(msg.token), coapwire.CHANGED, msg.mid) + msg.token + b"\xff" + ack_payload, addr)

    def __enter__(self) -> FakeServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_flag.set()
        self.join(2)
        self.sock.close()


def _run(port: int, **cfg: object) -> dict:
    # A generous timeout by default: only the retransmission tests shorten it, so a busy machine
    # cannot turn a slow answer into a retransmission the test did not ask for.
    base = {"port": port, "devices": 8, "sockets": 4, "duration": 0.5, "window": 8, "drain": 1.0, "ack_timeout": 2.0}
    return loadgen.run({**base, **cfg})


def test_run__registers_every_device_then_sends_valid_heartbeats() -> None:
    with FakeServer() as srv:
        out = _run(srv.port, devices=5)
    assert srv.errors == []
    kinds = [k for k, _ in srv.requests]
    assert kinds[:5] == ["registration"] * 5
    assert sorted(obj["dev"] for _, obj in srv.requests[:5]) == ["gg-b%011x" % i for i in range(5)]
    assert set(kinds[5:]) == {"heartbeat"}
    assert out["register"]["registered"] == 5
    main = out["main"]
    assert main["answered"] == main["sent"] > 0
    assert main["codes"] == {"2.04": main["answered"]}
    assert main["lost"] == main["retransmissions"] == main["unanswered_at_end"] == 0
    assert main["latency"]["count"] == main["answered"]
    assert cbor2.loads(bytes.fromhex(out["ack_samples_hex"][0])) == {"st": 1, "pc": 0}


def test_run__one_request_in_flight_per_device() -> None:
    """NSTART = 1: with nothing answered, a wide window still holds one request per device."""
    with FakeServer("silent") as srv:
        out = _run(srv.port, devices=3, window=64, register=False, duration=0.3, drain=0.0, ack_timeout=5.0)
    assert out["main"]["sent"] == 3
    assert len(srv.copies) == 3
    assert out["main"]["unanswered_at_end"] == 3


def test_run__retransmits_what_was_not_acknowledged() -> None:
    with FakeServer("drop_first") as srv:
        out = _run(srv.port, register=False, ack_timeout=0.05)
    main = out["main"]
    assert main["retransmissions"] == main["sent"] > 0
    assert main["answered"] == main["sent"]
    assert main["lost"] == 0
    assert max(srv.copies.values()) == 2


def test_run__gives_up_after_max_retransmit() -> None:
    with FakeServer("silent") as srv:
        out = _run(srv.port, register=False, devices=2, duration=0.2, drain=4.0, ack_timeout=0.05)
    main = out["main"]
    assert main["answered"] == 0
    assert main["lost"] == 2
    assert main["retransmissions"] == 2 * coapwire.MAX_RETRANSMIT
    assert set(srv.copies.values()) == {1 + coapwire.MAX_RETRANSMIT}


def test_run__separate_responses_are_matched_and_acknowledged() -> None:
    with FakeServer("separate") as srv:
        out = _run(srv.port, register=False, devices=3)
    main = out["main"]
    assert main["separate_responses"] == main["answered"] == main["sent"] > 0
    assert main["empty_acks"] == main["sent"]
    assert srv.empty_acks_back == main["answered"]


def test_run__storm_sends_one_alarm_per_chosen_device_in_the_span() -> None:
    with FakeServer() as srv:
        out = _run(srv.port, devices=40, window=16, duration=1.0, storm={"fraction": 0.1, "start": 0.1, "span": 0.5},
                   event_ratio=0.2, record_events=True)
    events = [obj for k, obj in srv.requests if k == "event"]
    alarms = [e for e in events if e["k"] == "alarm"]
    assert len(alarms) == 4 == len({a["dev"] for a in alarms})
    assert all(a["lvl"] == 1 for a in alarms)
    # Sequence numbers per device start at 1 and never repeat.
    per_dev: dict[str, list[int]] = {}
    for e in events:
        per_dev.setdefault(e["dev"], []).append(e["seq"])
    assert all(sorted(s) == list(range(1, len(s) + 1)) for s in per_dev.values())
    main = out["main"]
    assert len(main["alarms"]) == 4 and all(a["ok"] and a["acked"] >= a["sent"] for a in main["alarms"])
    assert sorted(map(tuple, main["acked_events"])) == sorted((e["dev"], e["seq"]) for e in events)


def test_run__rate_limit_holds_the_request_count() -> None:
    with FakeServer() as srv:
        out = _run(srv.port, register=False, devices=50, window=50, rate=200.0, duration=1.0)
    # 200/s for 1 s: the pacing allows at most rate*t (+1 rounding) new requests.
    assert 150 <= out["main"]["sent"] <= 201


def test_run__refuses_non_loopback_target() -> None:
    with pytest.raises(SystemExit, match="not a loopback address"):
        loadgen.run({"host": "192.0.2.1", "port": 5683})
    with pytest.raises(SystemExit, match="unknown config keys: bogus"):
        loadgen.run({"bogus": 1})


def test_baseline_and_loadgen_processes__answered_and_pinned(tmp_path: Path) -> None:
    """The real thing at small scale: baseline server process, generator process."""
    server_cpu, gen_cpu = procs.pin_cpus()
    port = procs.free_port()
    srv = procs.Server("baseline", [sys.executable, "-m", "bench.perf.baseline", "--port", str(port)], port,
                       cpu=server_cpu, log=tmp_path / "baseline.log")
    srv.start()
    try:
        out = procs.run_loadgen({"port": port, "devices": 20, "sockets": 4, "duration": 0.5, "window": 16}, tmp_path, "t", gen_cpu)
        if server_cpu is not None:
            assert procs.udp_drops(port) is not None
            with open("/proc/%d/status" % srv.pid) as f:
                allowed = [ln for ln in f if ln.startswith("Cpus_allowed_list")][0].split()[1]
            assert allowed == str(server_cpu)
    finally:
        assert srv.stop() is not None
    assert out["register"]["registered"] == 20
    assert out["main"]["answered"] > 0
    assert out["main"]["codes"] == {"2.04": out["main"]["answered"]}
    assert out["config"]["cpu"] == gen_cpu
    assert procs.udp_drops(port) is None  # the server's socket is gone

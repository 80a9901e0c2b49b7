"""The load generator: N simulated devices speaking the real protocol to a CoAP server.

Run as its own process (`python -m bench.perf.loadgen CONFIG.json OUT.json`) so it never shares
an interpreter with the server it measures; the runner pins it to the other core. It is a raw
asyncio UDP client written for speed, not a CoAP stack:
- every payload is encoded before the clock starts (`payloads`); a send prepends a 4-byte header
  and a 4-byte token to a pre-built tail and calls `sendto` on a connected socket;
- confirmable requests with RFC 7252 §4.2 timing: first timeout uniform in [2 s, 3 s], doubled on
  each of at most 4 retransmissions, then the request counts as lost;
- a bounded window of outstanding requests, one at a time per device (NSTART = 1), optionally a
  rate limit and bursts; devices share a pool of sockets (each its own message-ID space) because
  10,000 sockets would measure the kernel, not the server;
- a fixed duration, then a drain (retransmissions only), then it stops by itself and writes JSON.
- OSCORE mode (`"oscore": "KEYS.json"`, RFC 8613): each device has its own security context from
  aiocoap's oscore module, built from the key file (one entry per device index, the device's
  side of what `bench.perf.oscore_keys` wrote into the fleet's `device_credentials`). Every
  request is protected when it is first sent (a new sequence number; a retransmission resends
  the same bytes, as the firmware does), and every protected answer is unprotected against its
  request: the codes counted are the inner ones, and an answer that does not verify counts as
  `oscore_bad_response`. Payloads are still built before the clock starts; protection is not.
Only loopback targets are accepted: this is a benchmark, not a traffic source.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import random
import socket
import struct
import sys
import time
from array import array
from collections import deque
from typing import Any

from bench.perf import coapwire, payloads
from bench.perf.stats import summary_ms

DEFAULTS: dict[str, Any] = {
    "host": "127.0.0.1",
    "port": 5683,
    "devices": 1000,
    "sockets": 128,
    "duration": 10.0,
    "window": 128,
    "rate": 0.0,  # requests/s of the main phase; 0 = as fast as the window allows
    "drain": 5.0,  # seconds to wait for outstanding requests after the main phase
    "register": True,
    "register_timeout": 120.0,
    "event_ratio": 0.0,  # share of requests that are events (selftest) instead of heartbeats
    "storm": None,  # {"fraction": 0.1, "start": s, "span": s}: alarm events during the run
    "burst": None,  # {"every": s, "size": n}: n requests at once, beyond the rate
    "timeline": False,  # per-second counts and p99
    "record_events": False,  # list every acknowledged event (dev, seq) in the output
    "model": "gg-bench",
    "board": "virtual",
    "fw": "1.0.0",
    "ack_timeout": coapwire.ACK_TIMEOUT,  # RFC 7252 default; tests shorten it
    "seed": 1,
    "cpu": None,  # pin this process to one CPU
    "oscore": None,  # path of a key file (bench.perf.oscore_keys): every request protected
}

KIND_REG = 0
KIND_HB = 1
KIND_EV = 2
KIND_ALARM = 3
KIND_NAMES = ("registration", "heartbeat", "event", "alarm")
_HDR = struct.Struct("!BBH")
_TOKEN = struct.Struct("!I")


class Req:
    """One confirmable request in flight."""

    __slots__ = ("key", "dev", "kind", "seq", "packet", "t0", "wall0", "deadline", "timeout", "tries", "ep", "token", "main",
                 "rid")

    def __init__(self) -> None:
        self.key = 0
        self.dev = 0
        self.kind = 0
        self.seq = 0
        self.packet = b""
        self.t0 = 0.0
        self.wall0 = 0.0
        self.deadline = 0.0
        self.timeout = 0.0
        self.tries = 0
        self.ep: Endpoint | None = None
        self.token = b""
        self.main = False
        self.rid: Any = None  # OSCORE: the request identifiers its answer is checked against


class Endpoint(asyncio.DatagramProtocol):
    """One UDP socket (one CoAP endpoint) shared by several devices, with its own message IDs."""

    def __init__(self, gen: LoadGen, index: int) -> None:
        self.gen = gen
        self.base = index << 16
        self.mid = random.randrange(0x10000)
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            except OSError:
                pass

    def datagram_received(self, data: bytes, addr: Any) -> None:  # noqa: ARG002
        self.gen.on_datagram(self, data)

    def error_received(self, exc: Exception) -> None:
        self.gen.socket_errors += 1


class LoadGen:
    """The whole generator: devices, endpoints, the window, retransmission, counters."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.rng = random.Random(cfg["seed"])
        self.n = int(cfg["devices"])
        self.window = int(cfg["window"])
        self.ack_timeout = float(cfg["ack_timeout"])
        self.endpoints: list[Endpoint] = []
        self.inflight: dict[int, Req] = {}
        self.by_token: dict[bytes, Req] = {}  # requests acknowledged empty, awaiting the response
        self.busy = bytearray(self.n)
        self.idle: deque[int] = deque()
        self.pending_ev: dict[int, deque[tuple[int, int, bytes]]] = {}
        self.next_seq = array("l", [0]) * self.n
        self.token_ctr = random.randrange(1 << 32)
        self.phase = "idle"
        self.t_main0 = 0.0
        self.t_main_end = 0.0
        self.sent_main = 0
        self.burst_credit = 0
        self.counts: dict[str, int] = {
            "sent": 0, "answered": 0, "answered_in_window": 0, "retransmissions": 0, "lost": 0,
            "rst": 0, "late_or_duplicate": 0, "empty_acks": 0, "separate_responses": 0,
        }
        self.socket_errors = 0
        self.codes: dict[str, int] = {}
        self.latencies = array("d")
        self.by_kind: dict[int, array] = {k: array("d") for k in range(4)}
        self.timeline_n: list[int] = []
        self.timeline_lat: list[array] = []
        self.acked_events: list[tuple[int, int]] = []
        self.alarms: list[dict[str, Any]] = []
        self.ack_samples: list[bytes] = []
        self.reg_done = 0
        self.reg_failed = 0
        self.done_event: asyncio.Event | None = None
        self.hb_tails: list[bytes] = []
        self.reg_tails: list[bytes] = []
        self.storm: list[tuple[float, int, bytes, int]] = []
        self.storm_pos = 0
        self.osc: list[Any] | None = None  # per-device OSCORE contexts in OSCORE mode
        self.inner: dict[bytes, Any] = {}  # plain request tail -> the aiocoap message it protects

    # -- building -------------------------------------------------------------------------
    def build(self) -> None:
        """Encode every payload the run needs before the clock starts."""
        c = self.cfg
        self.hb_tails = [payloads.tail(payloads.PATH_HB, payloads.heartbeat(i, c["fw"], uptime=3600 + i % 600)) for i in range(self.n)]
        if c["register"]:
            self.reg_tails = [payloads.tail(payloads.PATH_REG, payloads.registration(i, c["model"], c["board"], c["fw"])) for i in range(self.n)]
        storm = c.get("storm")
        if storm:
            count = max(1, int(round(self.n * float(storm["fraction"]))))
            chosen = self.rng.sample(range(self.n), min(count, self.n))
            for dev in chosen:
                at = float(storm["start"]) + self.rng.random() * float(storm["span"])
                seq = self._take_seq(dev)
                tail = payloads.tail(payloads.PATH_EV, payloads.alarm_event(dev, seq, 4000))
                self.storm.append((at, dev, tail, seq))
            self.storm.sort()
        if c["oscore"]:
            self.osc = oscore_contexts(c["oscore"], self.n)
            for t in self.hb_tails + self.reg_tails:
                self.inner[t] = _inner_message(t)

    def _take_seq(self, dev: int) -> int:
        self.next_seq[dev] += 1
        return self.next_seq[dev]

    # -- sending --------------------------------------------------------------------------
    def _send(self, dev: int, kind: int, tail: bytes, seq: int, now: float) -> None:
        ep = self.endpoints[dev % len(self.endpoints)]
        ep.mid = (ep.mid + 1) & 0xFFFF
        self.token_ctr = (self.token_ctr + 1) & 0xFFFFFFFF
        token = _TOKEN.pack(self.token_ctr)
        rid = None
        if self.osc is not None:
            inner = self.inner.get(tail)
            if inner is None:
                inner = _inner_message(tail)
            outer, rid = self.osc[dev].protect(inner)
            tail = coapwire.encode_options([(OPT_OSCORE, outer.opt.oscore)]) + b"\xff" + outer.payload
        packet = _HDR.pack(0x44, coapwire.POST, ep.mid) + token + tail
        r = Req()
        r.rid = rid
        r.key = ep.base | ep.mid
        r.dev = dev
        r.kind = kind
        r.seq = seq
        r.packet = packet
        r.t0 = now
        r.timeout = self.ack_timeout * (1.0 + self.rng.random() * (coapwire.ACK_RANDOM_FACTOR - 1.0))
        r.deadline = now + r.timeout
        r.ep = ep
        r.token = token
        r.main = self.phase == "main"
        if kind == KIND_ALARM:
            r.wall0 = time.time()
        old = self.inflight.pop(r.key, None)
        if old is not None:  # message ID wrapped while still in flight: give the old one up
            self.counts["lost"] += 1
            self._release(old, now)
        self.inflight[r.key] = r
        self.busy[dev] = 1
        self.counts["sent"] += 1
        ep.transport.sendto(packet)  # type: ignore[union-attr]

    def _next_main(self, dev: int, now: float) -> None:
        q = self.pending_ev.get(dev)
        if q:
            seq, kind, tail = q.popleft()
            self._send(dev, kind, tail, seq, now)
            return
        ratio = self.cfg["event_ratio"]
        if ratio and self.rng.random() < ratio:
            seq = self._take_seq(dev)
            body = payloads.event(dev, seq, "selftest", 4000 + seq, ok=True)
            self._send(dev, KIND_EV, payloads.tail(payloads.PATH_EV, body), seq, now)
            return
        self._send(dev, KIND_HB, self.hb_tails[dev], 0, now)

    def fill(self, now: float) -> None:
        """Start new requests while the window, the rate and idle devices allow."""
        if self.phase == "main":
            if now >= self.t_main_end:
                return
            rel = now - self.t_main0
            while self.storm_pos < len(self.storm) and self.storm[self.storm_pos][0] <= rel:
                _, dev, tail, seq = self.storm[self.storm_pos]
                self.storm_pos += 1
                if self.busy[dev]:
                    self.pending_ev.setdefault(dev, deque()).append((seq, KIND_ALARM, tail))
                else:
                    self._send(dev, KIND_ALARM, tail, seq, now)
            rate = self.cfg["rate"]
            budget = self.window - len(self.inflight) - len(self.by_token)
            if rate:
                allowed = int(rate * rel) + self.burst_credit - self.sent_main
                budget = min(budget, allowed)
            idle = self.idle
            while budget > 0 and idle:
                dev = idle.popleft()
                if self.busy[dev]:
                    continue
                self._next_main(dev, now)
                self.sent_main += 1
                budget -= 1
        elif self.phase == "reg":
            budget = self.window - len(self.inflight) - len(self.by_token)
            idle = self.idle
            while budget > 0 and idle:
                dev = idle.popleft()
                self._send(dev, KIND_REG, self.reg_tails[dev], 0, now)
                budget -= 1

    # -- receiving ------------------------------------------------------------------------
    def on_datagram(self, ep: Endpoint, data: bytes) -> None:
        now = time.perf_counter()
        if len(data) < 4:
            self.counts["late_or_duplicate"] += 1
            return
        first = data[0]
        mtype = (first >> 4) & 3
        mid = (data[2] << 8) | data[3]
        code = data[1]
        if mtype == coapwire.ACK or mtype == coapwire.RST:
            r = self.inflight.get(ep.base | mid)
            if r is None:
                self.counts["late_or_duplicate"] += 1
                return
            del self.inflight[r.key]
            if mtype == coapwire.RST:
                self.counts["rst"] += 1
                self._finish(r, 0, b"", now)
            elif code == coapwire.EMPTY:
                self.counts["empty_acks"] += 1
                self.by_token[r.token] = r
            else:
                self._finish(r, code, data, now)
        else:  # a separate response (CON or NON) carries our token
            tkl = first & 0x0F
            token = data[4 : 4 + tkl]
            if mtype == coapwire.CON:
                ep.transport.sendto(_HDR.pack(0x60, 0, mid))  # type: ignore[union-attr]
            r = self.by_token.pop(token, None)
            if r is None:
                self.counts["late_or_duplicate"] += 1
                return
            self.counts["separate_responses"] += 1
            self._finish(r, code, data, now)
        self.fill(now)

    def _unprotect(self, r: Req, code: int, data: bytes) -> tuple[int, bytes]:
        """OSCORE mode: the inner code and payload of a protected answer (a plain one, such as
        4.01 "Replay detected", is taken as it is)."""
        from aiocoap import Message
        from aiocoap.message import Direction

        try:
            msg = Message.decode(data)
            if msg.opt.oscore is None:
                return code, data
            msg.direction = Direction.INCOMING
            plain, _ = self.osc[r.dev].unprotect(msg, r.rid)  # type: ignore[index]
        except Exception:  # noqa: BLE001 - counted, never fatal
            self.counts["oscore_bad_response"] = self.counts.get("oscore_bad_response", 0) + 1
            return 0xFF, b""
        return int(plain.code), b"\x40\x00\x00\x00\xff" + plain.payload if plain.payload else b""

    def _finish(self, r: Req, code: int, data: bytes, now: float) -> None:
        if self.osc is not None and code:
            code, data = self._unprotect(r, code, data)
        lat = now - r.t0
        self.counts["answered"] += 1
        name = coapwire.code_text(code) if code else "RST"
        self.codes[name] = self.codes.get(name, 0) + 1
        if r.main:
            self.latencies.append(lat)
            self.by_kind[r.kind].append(lat)
            if now <= self.t_main_end:
                self.counts["answered_in_window"] += 1
            if self.cfg["timeline"]:
                sec = int(now - self.t_main0)
                while len(self.timeline_n) <= sec:
                    self.timeline_n.append(0)
                    self.timeline_lat.append(array("d"))
                self.timeline_n[sec] += 1
                self.timeline_lat[sec].append(lat)
        if len(self.ack_samples) < 16 and data:
            self.ack_samples.append(coapwire.payload_of(data))
        ok = (code >> 5) == 2
        if r.kind == KIND_REG:
            if ok:
                self.reg_done += 1
            else:
                self.reg_failed += 1
        elif ok and (r.kind == KIND_EV or r.kind == KIND_ALARM) and self.cfg["record_events"]:
            self.acked_events.append((r.dev, r.seq))
        if r.kind == KIND_ALARM:
            self.alarms.append({"dev": payloads.device_id(r.dev), "seq": r.seq, "sent": r.wall0, "acked": time.time(), "ok": ok})
        self._release(r, now)

    def _release(self, r: Req, now: float) -> None:
        dev = r.dev
        self.busy[dev] = 0
        if self.phase == "main":
            q = self.pending_ev.get(dev)
            if q and now < self.t_main_end:
                seq, kind, tail = q.popleft()
                self._send(dev, kind, tail, seq, now)
                return
            self.idle.append(dev)
        if self.phase == "reg" and self.reg_done + self.reg_failed >= self.n and self.done_event:
            self.done_event.set()

    # -- timers ---------------------------------------------------------------------------
    def retransmit_due(self, now: float) -> None:
        """Resend what timed out (RFC 7252 §4.2), give up after MAX_RETRANSMIT."""
        expired = [r for r in self.inflight.values() if r.deadline <= now]
        for r in expired:
            if r.tries >= coapwire.MAX_RETRANSMIT:
                del self.inflight[r.key]
                self.counts["lost"] += 1
                if r.kind == KIND_REG:
                    self.reg_failed += 1
                self._release(r, now)
                continue
            r.tries += 1
            r.timeout *= 2.0
            r.deadline = now + r.timeout
            self.counts["retransmissions"] += 1
            r.ep.transport.sendto(r.packet)  # type: ignore[union-attr]

    async def ticker(self, stop: asyncio.Event) -> None:
        """Wake every millisecond: rate pacing, storm timing, bursts, retransmissions."""
        last_rtx = 0.0
        burst = self.cfg.get("burst")
        next_burst = float(burst["every"]) if burst else None
        while not stop.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            if self.phase == "main" and next_burst is not None and now - self.t_main0 >= next_burst:
                self.burst_credit += int(burst["size"])  # type: ignore[index]
                saved = self.window
                self.window = max(self.window, len(self.inflight) + int(burst["size"]))  # type: ignore[index]
                self.fill(now)
                self.window = saved
                next_burst += float(burst["every"])  # type: ignore[index]
            self.fill(now)
            if now - last_rtx >= 0.01:
                last_rtx = now
                self.retransmit_due(now)

    # -- the run --------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        c = self.cfg
        loop = asyncio.get_running_loop()
        n_sockets = max(1, min(int(c["sockets"]), self.n))
        for i in range(n_sockets):
            ep = Endpoint(self, i)
            await loop.create_datagram_endpoint(lambda ep=ep: ep, remote_addr=(c["host"], int(c["port"])))
            self.endpoints.append(ep)
        stop = asyncio.Event()
        tick = asyncio.ensure_future(self.ticker(stop))
        cpu0 = time.process_time()
        out: dict[str, Any] = {"config": {k: v for k, v in c.items()}}
        try:
            if c["register"]:
                out["register"] = await self._register()
            out["main"] = await self._main()
        finally:
            stop.set()
            await tick
            for ep in self.endpoints:
                if ep.transport is not None:
                    ep.transport.close()
        out["generator_cpu_s"] = round(time.process_time() - cpu0, 3)
        out["socket_errors"] = self.socket_errors
        out["ack_samples_hex"] = [s.hex() for s in self.ack_samples]
        return out

    async def _register(self) -> dict[str, Any]:
        self.phase = "reg"
        self.done_event = asyncio.Event()
        self.idle = deque(range(self.n))
        t0 = time.perf_counter()
        self.fill(t0)
        try:
            await asyncio.wait_for(self.done_event.wait(), self.cfg["register_timeout"])
        except asyncio.TimeoutError:
            pass
        seconds = time.perf_counter() - t0
        self.phase = "idle"
        # Anything still in flight is abandoned; the main phase starts from a clean window.
        self.inflight.clear()
        self.by_token.clear()
        self.busy = bytearray(self.n)
        return {"devices": self.n, "registered": self.reg_done, "refused_or_lost": self.reg_failed,
                "seconds": round(seconds, 3), "per_s": round(self.reg_done / seconds, 1) if seconds else None}

    async def _main(self) -> dict[str, Any]:
        c = self.cfg
        self.idle = deque(d for d in range(self.n) if not self.busy[d])
        self.phase = "main"
        self.t_main0 = time.perf_counter()
        self.t_main_end = self.t_main0 + float(c["duration"])
        wall0 = time.time()
        for k in ("answered", "rst", "retransmissions", "lost", "late_or_duplicate", "empty_acks", "separate_responses", "sent"):
            self.counts[k] = 0
        self.codes = {}
        self.fill(self.t_main0)
        await asyncio.sleep(max(0.0, self.t_main_end - time.perf_counter()))
        drain_end = time.perf_counter() + float(c["drain"])
        while (self.inflight or self.by_token) and time.perf_counter() < drain_end:
            await asyncio.sleep(0.01)
        duration = float(c["duration"])
        lat = summary_ms(self.latencies)
        result: dict[str, Any] = {
            "started_wall": wall0,
            "duration_s": duration,
            "answered_msgs_per_s": round(self.counts["answered_in_window"] / duration, 1),
            "latency": lat,
            "by_kind": {KIND_NAMES[k]: summary_ms(v) for k, v in self.by_kind.items() if len(v)},
            "codes": dict(sorted(self.codes.items())),
            **self.counts,
            "unanswered_at_end": len(self.inflight) + len(self.by_token),
            "storm_alarms_scheduled": len(self.storm),
            "storm_alarms_sent": self.storm_pos,
            "endpoints": len(self.endpoints),
        }
        per_ep = self.counts["sent"] / max(1, len(self.endpoints)) / max(duration, 1e-9)
        # RFC 7252 §4.4: an endpoint must not reuse a message ID within EXCHANGE_LIFETIME.
        result["mid_reuse_risk"] = per_ep * min(duration, coapwire.EXCHANGE_LIFETIME) > 0xFFFF
        if c["timeline"]:
            result["timeline"] = [
                {"s": i, "answered": n, "p99_ms": summary_ms(self.timeline_lat[i])["p99_ms"]}
                for i, n in enumerate(self.timeline_n)
            ]
        if c["record_events"]:
            result["acked_events"] = [[payloads.device_id(d), s] for d, s in self.acked_events]
        if self.alarms:
            result["alarms"] = self.alarms
        return result


OPT_OSCORE = 9


def oscore_contexts(path: str, n: int) -> list[Any]:
    """One client-side aiocoap OSCORE context per device, from the key file. Imported late: the
    plain generator does not load aiocoap."""
    from aiocoap import oscore as ao

    class BenchContext(ao.CanProtect, ao.CanUnprotect, ao.SecurityContextUtils):
        alg_aead = ao.algorithms[ao.DEFAULT_ALGORITHM]
        hashfun = ao.hashfunctions[ao.DEFAULT_HASHFUNCTION]

        def __init__(self, key: dict[str, str]) -> None:
            self.sender_id = bytes.fromhex(key["sender_id"])
            self.recipient_id = bytes.fromhex(key["recipient_id"])
            self.id_context = bytes.fromhex(key["id_context"]) or None
            self.derive_keys(bytes.fromhex(key["master_salt"]), bytes.fromhex(key["master_secret"]))
            self.sender_sequence_number = int(key.get("seq", 0))
            self.recipient_replay_window = ao.ReplayWindow(32, lambda: None)
            self.recipient_replay_window.initialize_empty()
            self.echo_recovery = None

        def post_seqnoincrease(self) -> None:
            pass  # each benchmark run has a fresh fleet database and fresh keys

    with open(path) as f:
        keys = json.load(f)["devices"]
    if len(keys) < n:
        raise SystemExit("loadgen: %s holds keys for %d devices, the run needs %d" % (path, len(keys), n))
    return [BenchContext(k) for k in keys[:n]]


def _inner_message(tail: bytes) -> Any:
    """The plain request a tail stands for (POST, its options and payload), ready to protect."""
    from aiocoap import Message
    from aiocoap.message import Direction

    msg = Message.decode(_HDR.pack(0x40, coapwire.POST, 0) + tail)
    msg.direction = Direction.OUTGOING
    return msg


def check_target(host: str) -> None:
    """Refuse anything but loopback: the generator floods its target."""
    try:
        ok = ipaddress.ip_address(host).is_loopback
    except ValueError:
        ok = host == "localhost"
    if not ok:
        raise SystemExit("loadgen: target %r is not a loopback address; only 127.0.0.0/8 or ::1 are allowed" % host)


def run(cfg_in: dict[str, Any]) -> dict[str, Any]:
    """Run one generator with `cfg_in` over DEFAULTS, in this process, on uvloop when present."""
    unknown = set(cfg_in) - set(DEFAULTS)
    if unknown:
        raise SystemExit("loadgen: unknown config keys: %s" % ", ".join(sorted(unknown)))
    cfg = {**DEFAULTS, **cfg_in}
    check_target(cfg["host"])
    if cfg["cpu"] is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(cfg["cpu"])})
    gen = LoadGen(cfg)
    gen.build()
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        uvloop = None
    if uvloop is not None:
        out = uvloop.run(gen.run())
        loop_name = "uvloop %s" % uvloop.__version__
    else:  # pragma: no cover
        out = asyncio.run(gen.run())
        loop_name = "asyncio"
    out["event_loop"] = loop_name
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.perf.loadgen CONFIG.json OUT.json", file=sys.stderr)
        return 2
    with open(args[0]) as f:
        cfg = json.load(f)
    out = run(cfg)
    tmp = args[1] + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f)
    os.replace(tmp, args[1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A PROPOSAL, measured: a lean ingest path for the fleet, to show what one core can do.

Not used by the fleet. The fleet's ingest (fleet/coap/server.py, fleet/ingest/) is owned by the
fleet engineer; this prototype exists so the performance report can put a measured design next to
the measured fleet, and the fleet can take over what it proves. It keeps the protocol's promises:
- acknowledged means committed: every batch is one transaction, acks are sent after its commit;
- duplicate detection of CON messages, bounded: (peer, message ID) -> the response bytes, kept
  for `dedup_s` seconds (the fleet's coap_dedup_lifetime_s), a retransmission of a message still
  in its batch is ignored (its ack is on the way), an older one gets the same response again;
- events stay idempotent on (device, seq): everything but the common heartbeat goes through the
  fleet's own `Ingestor.process` in the same transaction, and so do heartbeats of devices that
  are offline, unknown or have commands waiting (their acks carry `cmds`).
How it is lean:
- a raw asyncio DatagramProtocol on uvloop instead of aiocoap for the four POST resources: a
  request whose options are exactly Uri-Path gg/<name> (+ Content-Format) is recognised by
  comparing bytes; anything else (GET /.well-known/core, Block1, OSCORE, Observe) would be handed
  to aiocoap in the real integration; here it gets 4.02 Bad Option / 4.04;
- batching by event-loop turn: datagrams read in one turn are one batch, committed in a
  callback scheduled right after them (no thread: the server has one core, a thread only adds
  GIL hand-overs);
- heartbeats of online devices without commands: one executemany INSERT of readings and one
  executemany UPDATE of devices through SQLAlchemy Core, no ORM objects.

    python -m bench.perf.proto_ingest --db sqlite:///x.db --port 5683 [--cpu 0] [--decode cbor2]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import struct
import time
from datetime import datetime, timezone
from typing import Any

import cbor2
from sqlalchemy import bindparam, select, update

from bench.perf import coapwire

_HDR = struct.Struct("!BBH")
OPEN_CMD_STATES = ("pending", "sent")


def _opts(path: str, cf: int | None) -> bytes:
    return coapwire.request_tail(path, b"", cf)


class LeanIngest(asyncio.DatagramProtocol):
    def __init__(self, db_url: str, dedup_s: float, decode: str, batch_wait_ms: float = 0.0, batch_max: int = 1024) -> None:
        from fleet.core.config import get_settings
        from fleet.ingest.core import Ingestor
        from fleet.store.db import Database
        from fleet.store.models import Command, Device, Reading

        self.settings = get_settings(db=db_url)
        self.db = Database(db_url)
        self.ingestor = Ingestor(self.settings)
        self.devices_t = Device.__table__
        self.readings_t = Reading.__table__
        self.Command = Command
        self.Device = Device
        self.dedup_s = dedup_s
        self.decode_mode = decode
        self.batch_wait_s = batch_wait_ms / 1000.0
        self.batch_max = batch_max
        self.decode_full = decode != "cbor2"
        from protocol import messages

        self.messages = messages
        kinds = {"/gg/reg": ("registration", 60), "/gg/hb": ("heartbeat", 112), "/gg/ev": ("event", 60),
                 "/gg/cr": ("command_result", 60)}
        self.routes: dict[bytes, str] = {}
        for path, (kind, cf) in kinds.items():
            self.routes[_opts(path, cf) + b"\xff"] = kind
            self.routes[_opts(path, None) + b"\xff"] = kind
        self.transport: asyncio.DatagramTransport | None = None
        self.batch: list[tuple[str, Any, bytes, int, bytes, Any]] = []
        self.scheduled = False
        self.seen: dict[tuple[Any, int], bytes | None] = {}
        self.seen_order: collections.deque[tuple[float, tuple[Any, int]]] = collections.deque()
        self.ack_cache: tuple[int, bytes] = (0, b"")
        self.stats = collections.Counter()
        self.update_dev = (
            update(self.devices_t)
            .where(self.devices_t.c.device_id == bindparam("b_dev"))
            .values(last_report_at=bindparam("b_at"), health=bindparam("b_health"), fw=bindparam("b_fw"),
                    address=bindparam("b_addr"))
        )

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    # -- receive ----------------------------------------------------------------------------
    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) < 4 or data[0] >> 6 != 1:
            return
        first = data[0]
        mtype = (first >> 4) & 3
        mid = (data[2] << 8) | data[3]
        if mtype != 0 or data[1] != coapwire.POST:
            if mtype == 0 and data[1] == 0:  # CoAP ping
                self.transport.sendto(_HDR.pack(0x70, 0, mid), addr)  # type: ignore[union-attr]
            return
        key = (addr, mid)
        if key in self.seen:
            self.stats["duplicates"] += 1
            resp = self.seen[key]
            if resp is not None:
                self.transport.sendto(resp, addr)  # type: ignore[union-attr]
            return
        tkl = first & 0x0F
        token = data[4 : 4 + tkl]
        marker = data.find(b"\xff", 4 + tkl)
        kind = self.routes.get(data[4 + tkl : marker + 1]) if marker > 0 else None
        if kind is None:
            self.stats["not_fast_path"] += 1
            self._reply(addr, mid, token, 0x82, b"", None)  # 4.02; the real thing: hand to aiocoap
            return
        payload = data[marker + 1 :]
        try:
            body = self._decode(kind, payload)
        except ValueError as e:
            self.stats["bad_input"] += 1
            self._reply(addr, mid, token, 0x80, str(e).encode()[:200], key)
            return
        self.seen[key] = None
        self.batch.append((kind, body, token, mid, b"", addr))
        if len(self.batch) >= self.batch_max:
            self.flush()
        elif not self.scheduled:
            self.scheduled = True
            if self.batch_wait_s:
                asyncio.get_running_loop().call_later(self.batch_wait_s, self._timed_flush)
            else:
                asyncio.get_running_loop().call_soon(self._timed_flush)

    def _decode(self, kind: str, payload: bytes) -> Any:
        """protocol.messages.decode's checks on cbor2's C decoder (PROPOSAL 1 in the report:
        the pure-Python CBOR decoder is a quarter of the fleet's CPU at this rate)."""
        if self.decode_mode == "messages":
            return self.messages.decode(kind, payload)
        obj = cbor2.loads(payload)
        if self.decode_mode == "cbor2":
            return obj
        m = self.messages
        if kind == "heartbeat":
            obj = m.pack_to_heartbeat(obj)
        m._check_map(kind, obj, m._kind_fields(kind))  # noqa: SLF001 - prototype; see the report
        return obj

    def _reply(self, addr: Any, mid: int, token: bytes, code: int, payload: bytes, key: Any) -> bytes:
        msg = _HDR.pack(0x60 | len(token), code, mid) + token
        if payload:
            msg += b"\xc1\x3c\xff" + payload if code == coapwire.CHANGED else b"\xff" + payload
        self.transport.sendto(msg, addr)  # type: ignore[union-attr]
        if key is not None:
            self.seen[key] = msg
            self.seen_order.append((time.monotonic(), key))
        return msg

    # -- commit -----------------------------------------------------------------------------
    def _timed_flush(self) -> None:
        self.scheduled = False
        self.flush()

    def flush(self) -> None:
        batch, self.batch = self.batch, []
        if not batch:
            return
        from fleet.ingest.core import Item, Result

        at = datetime.now(timezone.utc)
        st = int(at.timestamp())
        acks: list[dict[str, Any] | None] = [None] * len(batch)
        errors: list[Any] = [None] * len(batch)
        with self.db.session() as session:
            conn = session.connection()
            ids = {b[1]["dev"] for b in batch if isinstance(b[1], dict) and "dev" in b[1]}
            online = set(conn.execute(select(self.devices_t.c.device_id).where(
                self.devices_t.c.device_id.in_(ids), self.devices_t.c.online.is_(True))).scalars())
            with_cmds = set(conn.execute(select(self.Command.__table__.c.device_id).where(
                self.Command.__table__.c.device_id.in_(ids), self.Command.__table__.c.state.in_(OPEN_CMD_STATES))).scalars())
            lean_r: list[dict[str, Any]] = []
            lean_d: dict[str, dict[str, Any]] = {}
            slow_idx: list[int] = []
            for i, (kind, body, _t, _m, _x, addr) in enumerate(batch):
                dev = body.get("dev") if isinstance(body, dict) else None
                if kind == "heartbeat" and self.decode_full and dev in online and dev not in with_cmds:
                    lean_r.append({"device_id": dev, "at": at, "lel": body.get("lel"), "alarm": body.get("alarm"),
                                   "valve": body.get("valve"), "faults": body.get("faults"), "rssi": body.get("rssi"),
                                   "heap_free": body.get("heap_free"), "battery_pct": body.get("battery_pct"),
                                   "uptime_s": body.get("uptime")})
                    hb = {k: v for k, v in body.items() if k != "dev"}
                    hb["received_at"] = at.isoformat()
                    lean_d[dev] = {"b_dev": dev, "b_at": at, "b_health": hb, "b_fw": body.get("fw"),
                                   "b_addr": "%s:%d" % addr[:2]}
                    acks[i] = {"st": st, "pc": 0}
                else:
                    slow_idx.append(i)
            if slow_idx and self.decode_full:
                items = [Item(kind=batch[i][0], body=batch[i][1], at=at, remote="%s:%d" % batch[i][5][:2]) for i in slow_idx]
                results: list[Result] = self.ingestor.process(session, items)
                for i, r in zip(slow_idx, results):
                    acks[i], errors[i] = r.ack, r.error
            elif slow_idx:
                for i in slow_idx:
                    acks[i] = {"st": st, "pc": 0}
            if lean_r:
                self._write_lean(conn, at, lean_r, list(lean_d.values()))
            session.commit()
        self.stats["batches"] += 1
        self.stats["messages"] += len(batch)
        self.stats["lean"] += len(lean_r)
        for i, (kind, body, token, mid, _x, addr) in enumerate(batch):
            key = (addr, mid)
            if acks[i] is not None:
                a = acks[i]
                if a == {"st": st, "pc": 0}:
                    if self.ack_cache[0] != st:
                        self.ack_cache = (st, self.messages.encode("ack", a))
                    payload = self.ack_cache[1]
                else:
                    payload = self.messages.encode("ack", a)
                self._reply(addr, mid, token, coapwire.CHANGED, payload, key)
            else:
                self._reply(addr, mid, token, 0x80 if errors[i] is None else 0x80, str(errors[i]).encode()[:200], key)
        self._expire()

    def _write_lean(self, conn: Any, at: datetime, readings: list[dict[str, Any]], devs: list[dict[str, Any]]) -> None:
        """The heartbeat rows through the DBAPI cursor, inside the session's transaction: SQL
        built once, values bound as the column types would bind them (PROPOSAL 2)."""
        import json

        sqlite = conn.dialect.name == "sqlite"
        when: Any = at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds") if sqlite else at
        mark = "?" if sqlite else "%s"
        cur = conn.connection.driver_connection.cursor()
        cols = ("device_id", "at", "lel", "alarm", "valve", "faults", "rssi", "heap_free", "battery_pct", "uptime_s")
        cur.executemany(
            "INSERT INTO readings (%s) VALUES (%s)" % (", ".join(cols), ", ".join([mark] * len(cols))),
            [(r["device_id"], when, r["lel"], r["alarm"], r["valve"], r["faults"], r["rssi"], r["heap_free"],
              r["battery_pct"], r["uptime_s"]) for r in readings])
        cur.executemany(
            "UPDATE devices SET last_report_at = {m}, health = {m}, fw = {m}, address = {m} WHERE device_id = {m}".format(m=mark),
            [(when, json.dumps(d["b_health"]), d["b_fw"], d["b_addr"], d["b_dev"]) for d in devs])

    def _expire(self) -> None:
        limit = time.monotonic() - self.dedup_s
        order, seen = self.seen_order, self.seen
        while order and order[0][0] < limit:
            _, key = order.popleft()
            seen.pop(key, None)


async def serve(db_url: str, host: str, port: int, dedup_s: float, decode: str, batch_wait_ms: float) -> None:
    loop = asyncio.get_running_loop()
    proto = LeanIngest(db_url, dedup_s, decode, batch_wait_ms)
    transport, _ = await loop.create_datagram_endpoint(lambda: proto, local_addr=(host, port))
    sock = transport.get_extra_info("socket")
    sock.setsockopt(__import__("socket").SOL_SOCKET, __import__("socket").SO_RCVBUF, 4 << 20)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    transport.close()
    print(dict(proto.stats), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="lean ingest prototype (a proposal for the fleet)")
    p.add_argument("--db", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cpu", type=int, default=None)
    p.add_argument("--dedup-s", type=float, default=30.0)
    p.add_argument("--decode", choices=("fast", "messages", "cbor2"), default="fast",
                   help="fast = cbor2 + protocol.messages checks; messages = protocol.messages.decode; "
                        "cbor2 = decode only, nothing stored")
    p.add_argument("--batch-wait-ms", type=float, default=0.0,
                   help="0 = commit once per event-loop turn; else wait this long for more messages")
    a = p.parse_args(argv)
    if a.cpu is not None:
        os.sched_setaffinity(0, {a.cpu})
    import uvloop

    uvloop.run(serve(a.db, a.host, a.port, a.dedup_s, a.decode, a.batch_wait_ms))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

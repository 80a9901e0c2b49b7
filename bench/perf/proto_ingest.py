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
- a fast path in front of aiocoap, on aiocoap's own socket (`--front aiocoap`, the default): a
  confirmable POST whose options are exactly Uri-Path gg/<name> (+ Content-Format) is
  recognised by comparing bytes and never becomes an aiocoap Message; everything else
  (GET /.well-known/core, Block1, OSCORE, Observe, pings, odd options) goes on to aiocoap, whose
  ingest resources feed the same batch. `--front raw` uses a bare uvloop UDP socket instead
  (and answers 4.02 to anything else), to show what aiocoap's receive path still costs;
- batching by event-loop turn: datagrams read in one turn are one batch, committed in a
  callback scheduled right after them (no thread: the server has one core, a thread only adds
  GIL hand-overs);
- heartbeats of online devices without commands: one executemany INSERT of readings and one
  executemany UPDATE of devices through SQLAlchemy Core, no ORM objects.

    python -m bench.perf.proto_ingest --db sqlite:///x.db --port 5683 [--cpu 0] [--front raw] [--batch-wait-ms 2]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import socket
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
        self.send: Any = None  # (datagram, address) -> None: the socket the request came in on
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
        self.send = transport.sendto

    # -- receive ----------------------------------------------------------------------------
    def datagram_received(self, data: bytes, addr: Any) -> None:
        """Standalone mode: the fast path, and 4.02 for anything else (a CoAP ping gets RST)."""
        if self.handle(data, addr):
            return
        if len(data) >= 4 and data[0] >> 6 == 1 and (data[0] >> 4) & 3 == 0:
            mid = (data[2] << 8) | data[3]
            if data[1] == 0:  # CoAP ping
                self.send(_HDR.pack(0x70, 0, mid), addr)
            else:
                tkl = data[0] & 0x0F
                self.stats["not_fast_path"] += 1
                self._reply(addr, mid, data[4 : 4 + tkl], 0x82, b"", None)

    def handle(self, data: bytes, addr: Any) -> bool:
        """Take a datagram if it is a confirmable POST to one of the four ingest paths with
        nothing but Uri-Path and Content-Format options; False leaves it to aiocoap."""
        if len(data) < 4 or data[0] >> 6 != 1 or data[0] & 0x30 or data[1] != coapwire.POST:
            return False
        first = data[0]
        mid = (data[2] << 8) | data[3]
        tkl = first & 0x0F
        marker = data.find(b"\xff", 4 + tkl)
        kind = self.routes.get(data[4 + tkl : marker + 1]) if marker > 0 else None
        if kind is None:
            return False
        key = (addr, mid)
        if key in self.seen:
            self.stats["duplicates"] += 1
            resp = self.seen[key]
            if resp is not None:
                self.send(resp, addr)
            return True
        token = data[4 : 4 + tkl]
        try:
            body = self._decode(kind, data[marker + 1 :])
        except (ValueError, cbor2.CBORDecodeError) as e:  # cbor2 6: CBORDecodeError is not a ValueError
            self.stats["bad_input"] += 1
            self._reply(addr, mid, token, 0x80, str(e).encode()[:200], key)
            return True
        self.seen[key] = None
        self.enqueue((kind, body, token, mid, None, addr))
        return True

    def enqueue(self, entry: tuple[str, Any, bytes, int, Any, Any]) -> None:
        """Add to the batch; commit when it is full, else after the batch wait (or this turn)."""
        self.batch.append(entry)
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
        self.send(msg, addr)
        if key is not None:
            self.seen[key] = msg
            self.seen_order.append((time.monotonic(), key))
        return msg

    # -- commit -----------------------------------------------------------------------------
    def _timed_flush(self) -> None:
        self.scheduled = False
        self.flush()

    def flush(self) -> None:
        """Commit the batch, then answer it; if the commit fails nothing is acknowledged: each
        message gets 5.03 and is forgotten by the duplicate cache, so the device's retry is
        processed afresh."""
        batch, self.batch = self.batch, []
        if not batch:
            return
        try:
            self._commit_and_answer(batch)
        except Exception as e:  # noqa: BLE001 - the loop must survive a failed commit
            self.stats["failed_batches"] += 1
            for _kind, _body, token, mid, fut, addr in batch:
                if fut is not None:
                    if not fut.done():
                        fut.set_exception(e)
                    continue
                self.seen.pop((addr, mid), None)
                self._reply(addr, mid, token, 0xA3, b"store unavailable; retry later", None)  # 5.03

    def _commit_and_answer(self, batch: list[tuple[str, Any, bytes, int, Any, Any]]) -> None:
        from fleet.core.errors import coap_code
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
            for i, (kind, body, _t, _m, _f, addr) in enumerate(batch):
                dev = body.get("dev") if isinstance(body, dict) else None
                if kind == "heartbeat" and self.decode_full and dev in online and dev not in with_cmds:
                    lean_r.append({"device_id": dev, "at": at, "lel": body.get("lel"), "alarm": body.get("alarm"),
                                   "valve": body.get("valve"), "faults": body.get("faults"), "rssi": body.get("rssi"),
                                   "heap_free": body.get("heap_free"), "battery_pct": body.get("battery_pct"),
                                   "uptime_s": body.get("uptime")})
                    hb = {k: v for k, v in body.items() if k != "dev"}
                    hb["received_at"] = at.isoformat()
                    lean_d[dev] = {"b_dev": dev, "b_at": at, "b_health": hb, "b_fw": body.get("fw"),
                                   "b_addr": _hostport(addr)}
                    acks[i] = {"st": st, "pc": 0}
                else:
                    slow_idx.append(i)
            if slow_idx and self.decode_full:
                items = [Item(kind=batch[i][0], body=batch[i][1], at=at, remote=_hostport(batch[i][5])) for i in slow_idx]
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
        for i, (kind, body, token, mid, fut, addr) in enumerate(batch):
            if fut is not None:  # came through aiocoap: it answers
                if not fut.done():
                    fut.set_result((acks[i], errors[i]))
                continue
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
                code = int(coap_code(errors[i])) if errors[i] is not None else 0xA0  # 5.00: no ack, no error
                self._reply(addr, mid, token, code, str(errors[i]).encode()[:200], key)
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


def _hostport(addr: Any) -> str:
    host = addr[0][7:] if addr[0].startswith("::ffff:") else addr[0]
    return "%s:%d" % (host, addr[1])


async def serve(db_url: str, host: str, port: int, dedup_s: float, decode: str, batch_wait_ms: float,
                front: str) -> None:
    loop = asyncio.get_running_loop()
    proto = LeanIngest(db_url, dedup_s, decode, batch_wait_ms)
    if front == "aiocoap":
        ctx = await start_aiocoap_front(proto, host, port)
    else:
        transport, _ = await loop.create_datagram_endpoint(lambda: proto, local_addr=(host, port))
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    if front == "aiocoap":
        await ctx.shutdown()
    else:
        transport.close()
    print(dict(proto.stats), flush=True)


async def start_aiocoap_front(proto: LeanIngest, host: str, port: int) -> Any:
    """One socket, aiocoap's: the fast path looks at each datagram first and takes the plain
    ingest POSTs; everything else (/.well-known/core, Block1, OSCORE, pings, a request with an
    unusual option) goes on to aiocoap, whose ingest resources feed the same batch."""
    import aiocoap
    import aiocoap.resource

    class Slow(aiocoap.resource.Resource):
        def __init__(self, kind: str) -> None:
            super().__init__()
            self.kind = kind

        async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
            from fleet.core.errors import coap_code

            try:
                body = proto.messages.decode(self.kind, request.payload)
            except ValueError as e:
                return aiocoap.Message(code=aiocoap.BAD_REQUEST, payload=str(e).encode()[:200])
            fut = asyncio.get_running_loop().create_future()
            proto.enqueue((self.kind, body, b"", 0, fut, request.remote.sockaddr))
            try:
                ack, err = await fut
            except Exception:  # noqa: BLE001 - the batch's commit failed: nothing was stored
                return aiocoap.Message(code=aiocoap.SERVICE_UNAVAILABLE, payload=b"store unavailable; retry later")
            if ack is None:
                return aiocoap.Message(code=coap_code(err) if err else aiocoap.INTERNAL_SERVER_ERROR, payload=str(err).encode()[:200])
            return aiocoap.Message(code=aiocoap.CHANGED, payload=proto.messages.encode("ack", ack), content_format=60)

    site = aiocoap.resource.Site()
    site.add_resource([".well-known", "core"], aiocoap.resource.WKCResource(site.get_resources_as_linkheader))
    for name, kind in (("reg", "registration"), ("hb", "heartbeat"), ("ev", "event"), ("cr", "command_result")):
        site.add_resource(["gg", name], Slow(kind))
    ctx = await aiocoap.Context.create_server_context(site, bind=(host, port), transports=["udp6"])
    for ri in ctx.request_interfaces:
        mm = getattr(ri, "token_interface", None)
        mi = getattr(mm, "message_interface", None)
        if mi is None or not hasattr(mi, "datagram_msg_received"):
            continue
        original = mi.datagram_msg_received
        sendmsg = mi.transport.sendmsg
        mi.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)

        def received(data: bytes, ancdata: Any, flags: int, address: Any, _orig: Any = original) -> None:
            if not proto.handle(data, address):
                _orig(data, ancdata, flags, address)

        mi.datagram_msg_received = received
        proto.send = lambda msg, addr, _s=sendmsg: _s(msg, [], 0, addr)
    if proto.send is None:
        raise RuntimeError("aiocoap front: no udp6 message interface found to put the fast path in front of")
    return ctx


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
    p.add_argument("--front", choices=("aiocoap", "raw"), default="aiocoap",
                   help="aiocoap = fast path inside aiocoap's socket, aiocoap for the rest; raw = a bare UDP socket")
    a = p.parse_args(argv)
    if a.cpu is not None:
        os.sched_setaffinity(0, {a.cpu})
    import uvloop

    uvloop.run(serve(a.db, a.host, a.port, a.dedup_s, a.decode, a.batch_wait_ms, a.front))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

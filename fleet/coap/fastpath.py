"""The fast ingest path: device uplinks (POST /gg/reg, /gg/hb, /gg/ev, /gg/cr) read straight off
the CoAP socket, without aiocoap's per-request pipeline (`coap_ingest = "fast"`, the default).

Why: aiocoap spends about 200 µs of CPU per request on this machine (it copies every request
for routing, formats a description of it, parses the sender address each time, keeps ~2.4 KB
per remembered message ID); the fleet's whole budget at 10,000 messages a second is 100 µs.
docs/performance.md has the profile and the measurements.

Where it sits: in front of aiocoap on aiocoap's own UDP socket. `attach()` wraps the udp6
message interface's `datagram_msg_received`; `FastPath.receive` takes a datagram when it is a
confirmable POST whose options are exactly Uri-Path gg/<name> and, optionally, the path's
Content-Format (recognised by comparing bytes with pre-built strings) and returns False for
anything else, which aiocoap then handles as before. One socket, so the fleet's own requests to
devices (polls, commands) still leave from the port devices talk to (their NAT mappings), and
aiocoap keeps everything that needs it: OSCORE (a request with an OSCORE option never matches;
an unprotected uplink naming a device that speaks OSCORE is handed over too, so it is refused
exactly as the aiocoap path refuses it; an accepted plain uplink tells the OSCORE contexts, as
there, that a device which spoke OSCORE from that address has moved), /.well-known/core, Block1/Block2, Observe, pings,
NON requests, other methods and paths, a Content-Format the path does not take (4.15), and the
responses to the fleet's own requests. With `oscore_required` every plain uplink is handed
over. `FastPath` is also an asyncio DatagramProtocol on its own (`datagram_received`), as used by
the benchmark without aiocoap: there anything it does not take is answered 4.04 (CON) or dropped.

What it keeps of the protocol (RFC 7252):
- message-layer de-duplication of CON messages (§4.5): (peer, message ID) -> the response bytes,
  for `coap_dedup_lifetime_s` (the same setting aiocoap uses) and at most `dedup_max` entries,
  oldest dropped first: ~470 bytes an entry (tracemalloc, address tuple included) instead of
  aiocoap's ~2.4 KB. A retransmission that
  arrives while its batch commits is ignored (its ack is on the way); a later one gets the very
  same response again, and the store sees the message once. A message whose commit failed
  (5.03) is forgotten, so the device's retry is processed afresh;
- acknowledged means committed: the ack is piggy-backed on the ACK, sent from the batch
  writer's commit callback (fleet/ingest/writer.py), never before;
- events idempotent on (device, seq), registrations, command results: the fleet's own ingest
  core (fleet/ingest/core.py) does the storing, nothing here writes to the database;
- errors: the code from the one error table (fleet/core/errors.py) with a diagnostic payload
  naming the problem (text/plain, §5.5.2), counted in `ingest_errors` as the aiocoap path counts
  them (fleet/ingest/counters.py);
- malformed datagrams (§3, §4.2): shorter than a header, or a version other than 1, are dropped
  silently; a token length of 9-15 is a format error: a CON gets a Reset, other types are
  dropped. All are counted under resource `coap`, reason `malformed`.

Decoding uses cbor2 (C) with protocol.messages' own checks (`pack_to_heartbeat`, `validate`):
about 10 µs a heartbeat instead of 28 µs for the pure-Python decoder written for MicroPython.
Where the two decoders differ the fast path refuses rather than accepts: trailing bytes after
the item, and anything but plain CBOR types (a tag, `undefined`, a simple value) in what the
fleet keeps (for a heartbeat, the values of its records) are 4.00. The
one difference left: a map with a repeated key is refused by protocol.cbor and taken (last
value wins) by cbor2; the firmware never encodes one."""

from __future__ import annotations

import asyncio
import collections
import io
import logging
import socket
from collections.abc import Callable
from typing import Any

import aiocoap
import cbor2
from aiocoap.transports.udp6 import UDP6EndpointAddress
from aiocoap.util import hostportjoin

from fleet.coap import reader
from fleet.coap.server import INGEST_PATHS
from fleet.coap.tuning import message_managers
from fleet.core.clock import now
from fleet.core.errors import BadInput, FleetError, coap_code
from fleet.ingest.core import Item, Result
from fleet.ingest.counters import ErrorCounter
from fleet.ingest.writer import BatchWriter
from protocol import messages, paths
from protocol.messages_more import pack_to_heartbeat  # directly: not through messages' lazy __getattr__

log = logging.getLogger(__name__)

CON, NON, ACK, RST = 0, 1, 2, 3
POST = 0x02
NOT_FOUND = 0x84  # 4.04
RCVBUF_BYTES = 4 << 20  # the kernel caps it at net.core.rmem_max (4 MB here); see docs/performance.md
DEDUP_MAX = 150_000  # entries: ~70 MB at worst; the default 15 s lifetime at 10,000 msgs/s
CF_TEXT = 0
AT_RESOLUTION_S = 0.001  # messages received within one millisecond share one received time
MISSING = object()
_PLAIN = frozenset((int, float, str, bytes, bool, type(None)))


class DedupCache:
    """CON de-duplication (RFC 7252 §4.5) bounded in time and in size: (peer, message ID) ->
    (when, response bytes or None while the message is being committed)."""

    def __init__(self, lifetime_s: float, max_entries: int = DEDUP_MAX) -> None:
        if lifetime_s <= 0 or max_entries < 1:
            raise ValueError(f"dedup cache needs lifetime_s > 0 and max_entries >= 1, got {lifetime_s}, {max_entries}")
        self.lifetime_s = lifetime_s
        self.max_entries = max_entries
        self._entries: dict[Any, tuple[float, bytes | None]] = {}
        self._order: collections.deque[tuple[float, Any]] = collections.deque()
        self.evicted_early = 0  # dropped for size before their lifetime was up

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Any) -> Any:
        """The cached response, None while in progress, `MISSING` when not remembered."""
        entry = self._entries.get(key)
        return MISSING if entry is None else entry[1]

    def reserve(self, key: Any, t: float, response: bytes | None = None) -> None:
        self._entries[key] = (t, response)
        self._order.append((t, key))
        self._trim(t)

    def answer(self, key: Any, response: bytes) -> None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries[key] = (entry[0], response)

    def forget(self, key: Any) -> None:
        self._entries.pop(key, None)

    def _trim(self, t: float) -> None:
        limit = t - self.lifetime_s
        order, entries = self._order, self._entries
        while order and (order[0][0] < limit or len(entries) > self.max_entries):
            at, key = order.popleft()
            entry = entries.get(key)
            if entry is not None and entry[0] == at:  # not re-reserved since
                del entries[key]
                if at >= limit:
                    self.evicted_early += 1
        if len(order) > 2 * self.max_entries:  # stale order entries of forgotten keys
            self._order = collections.deque((a, k) for a, k in order if self._entries.get(k, (None,))[0] == a)


class _Route:
    __slots__ = ("uri", "kind", "ack_cf")

    def __init__(self, uri: str, kind: str, ack_cf: int) -> None:
        self.uri = uri
        self.kind = kind
        self.ack_cf = ack_cf


def _option_bytes(path: str, cf: int | None) -> bytes:
    """The options of a request to `path` as a device encodes them (aiocoap's encoder)."""
    msg = aiocoap.Message(code=aiocoap.POST, uri_path=tuple(paths.uri_path(path).strip("/").split("/")))
    msg.mtype, msg.mid, msg.token = aiocoap.CON, 0, b""
    if cf is not None:
        msg.opt.content_format = cf
    return msg.encode()[4:]


def _cf_option(cf: int) -> bytes:
    """A Content-Format option (number 12) as the first option of a response."""
    value = cf.to_bytes((cf.bit_length() + 7) // 8, "big")
    return bytes(((12 << 4) | len(value),)) + value


def _is_plain(v: Any) -> bool:
    """Only what protocol.cbor also returns: no tags, undefined or simple values (an iterative
    walk: a heartbeat is a list of ~10 small maps)."""
    stack = [v]
    scalar = _PLAIN
    while stack:
        x = stack.pop()
        t = type(x)
        if t is dict:
            for k, y in x.items():
                ty = type(y)
                if type(k) not in scalar:
                    return False
                if ty is dict or ty is list:
                    stack.append(y)
                elif ty not in scalar:
                    return False
        elif t is list:
            for y in x:
                ty = type(y)
                if ty is dict or ty is list:
                    stack.append(y)
                elif ty not in scalar:
                    return False
        elif t not in scalar:
            return False
    return True


def decode(kind: str, payload: bytes) -> dict[str, Any]:
    """protocol.messages.decode's result and checks, on cbor2's C decoder. Raises ValueError
    (MessageError, CBORDecodeError wrapped) naming the problem."""
    fp = io.BytesIO(payload)
    try:
        obj = cbor2.CBORDecoder(fp).decode()
    except cbor2.CBORDecodeError as e:  # not a ValueError in cbor2 6
        raise ValueError(f"{kind}: not valid CBOR: {e}") from None
    if fp.tell() != len(payload):
        n = len(payload) - fp.tell()
        raise ValueError(f"{kind}: not valid CBOR: {n} trailing byte{'' if n == 1 else 's'} after the item")
    if kind == "heartbeat":
        # Checked after packing: only the ~10 values the fleet keeps, not every SenML label of
        # the pack (a label the pack does not read is ignored on both paths alike).
        obj = pack_to_heartbeat(obj)
    if not _is_plain(obj):
        raise ValueError(f"{kind}: not valid CBOR for this protocol: a tag, undefined or simple value")
    return messages.validate(kind, obj)  # type: ignore[no-any-return]


class FastPath(asyncio.DatagramProtocol):
    """The four ingest resources on the socket (or only those of `kinds`: an ingest worker takes
    heartbeats). `send(datagram, addr, ancdata)` is set by `attach()` (aiocoap's socket),
    `connection_made()` (a socket of its own) or the ingest worker."""

    def __init__(self, writer: BatchWriter, counter: ErrorCounter, *, dedup_lifetime_s: float = 15.0,
                 dedup_max: int = DEDUP_MAX, contexts: Any = None, kinds: frozenset[str] | None = None) -> None:
        self.writer = writer
        self.counter = counter
        self.contexts = contexts  # fleet.coap.oscore_keys.DeviceContexts or None
        self.dedup = DedupCache(dedup_lifetime_s, dedup_max)
        self.routes: dict[bytes, _Route] = {}
        for row in INGEST_PATHS.values():
            if kinds is not None and row[paths.REQUEST_KIND] not in kinds:
                continue  # left to aiocoap (or, in an ingest worker, to the main process)
            route = _Route(paths.uri_path(row[paths.PATH]), row[paths.REQUEST_KIND], row[paths.RESPONSE_CF])
            # the options up to the payload marker, with and without the Content-Format option
            self.routes[_option_bytes(row[paths.PATH], row[paths.REQUEST_CF])] = route
            self.routes[_option_bytes(row[paths.PATH], None)] = route
        self.send: Callable[[bytes, Any, list[Any]], None] | None = None
        self.interface: Any = None  # aiocoap's udp6 message interface, once attached
        self.handed_over = 0  # datagrams left to aiocoap
        self.taken = 0  # requests answered here (duplicates included)
        self.duplicates = 0
        self._hostinfo: dict[Any, str] = {}
        self._ack_cache: tuple[int, int, bytes] = (-1, -1, b"")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._at = now()  # the received time of the messages of the current millisecond
        self._at_t = -1.0

    # -- standalone: a socket of its own -------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        self._loop = asyncio.get_running_loop()
        sendto = transport.sendto
        self.send = lambda data, addr, _anc: sendto(data, addr)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if self.receive(data, addr, []):
            return
        # Not an ingest request and no aiocoap behind: a CON request gets 4.04, a CoAP ping (empty
        # CON) a Reset (RFC 7252 §4.3), the rest is dropped.
        if data[0] >> 4 & 3 == CON and data[1] == 0:
            self.send(bytes((0x70, 0)) + data[2:4], addr, [])  # type: ignore[misc]
        elif data[0] >> 4 & 3 == CON and data[1] >> 5 == 0:
            tkl = data[0] & 0x0F
            self._reply(addr, [], data[2:4], data[4 : 4 + tkl], NOT_FOUND, b"handled by the aiocoap server only",
                        CF_TEXT)

    # -- the datagram ---------------------------------------------------------------------------
    def receive(self, data: bytes, addr: Any, ancdata: list[Any]) -> bool:
        """Take `data` (True) or leave it to aiocoap (False)."""
        n = len(data)
        if n < 4:
            self._malformed(addr, "shorter than a CoAP header (4 bytes)")
            return True
        first = data[0]
        if first >> 6 != 1:
            self._malformed(addr, f"CoAP version {first >> 6}, not 1")
            return True
        tkl = first & 0x0F
        if tkl > 8:
            self._malformed(addr, f"token length {tkl} (at most 8)")
            if first >> 4 & 3 == CON:
                self.send(bytes((0x70,)) + b"\x00" + data[2:4], addr, ancdata)  # type: ignore[misc] - RST
            return True
        if first & 0x30 or data[1] != POST:  # not CON, or not POST
            return self._hand_over()
        if self.contexts is not None and self.contexts.require_all:
            return self._hand_over()
        start = 4 + tkl
        marker = data.find(b"\xff", start)
        route = self.routes.get(data[start:marker]) if marker > 0 and marker + 1 < n else None
        if route is None:
            return self._hand_over()
        key = (addr, data[2], data[3])
        cached = self.dedup.get(key)
        if cached is not MISSING:
            self.duplicates += 1
            self.taken += 1
            if cached is not None:
                self.send(cached, addr, ancdata)  # type: ignore[misc]
            return True
        mid, token = data[2:4], data[start - tkl : start]
        t = self._now()
        try:
            body = decode(route.kind, data[marker + 1 :])
        except messages.MessageError as e:
            self._refuse(route, key, t, addr, ancdata, mid, token, BadInput(str(e), reason="bad_message"))
            return True
        except (ValueError, TypeError, KeyError, RecursionError, OverflowError) as e:
            text = str(e)
            reason = "bad_cbor" if "not valid CBOR" in text else "bad_message"
            self._refuse(route, key, t, addr, ancdata, mid, token, BadInput(text, reason=reason))
            return True
        remote = self._remote(addr)
        if self.contexts is not None:  # as fleet/coap/server.py IngestResource._check_sender does
            if self.contexts.requires_oscore(body["dev"]):
                return self._hand_over()  # aiocoap's resource refuses it (4.01), counted per device
            self.contexts.plain_from(remote)  # a device that spoke OSCORE from here has moved
        self.taken += 1
        self.dedup.reserve(key, t)
        if t - self._at_t >= AT_RESOLUTION_S:  # one clock read per millisecond, not per message
            self._at, self._at_t = now(), t
        self.writer.enqueue(Item(kind=route.kind, body=body, at=self._at, remote=remote),
                            lambda res: self._answer(res, route, key, addr, ancdata, mid, token, remote))
        return True

    def _hand_over(self) -> bool:
        self.handed_over += 1
        return False

    def _now(self) -> float:
        loop = self._loop or asyncio.get_running_loop()
        return loop.time()

    def _remote(self, addr: Any) -> str:
        """The sender as aiocoap's `remote.hostinfo` writes it (stored as the device's address)."""
        host = self._hostinfo.get(addr)
        if host is None:
            if len(self._hostinfo) > 100_000:
                self._hostinfo.clear()
            if len(addr) == 4 and self.interface is not None:  # exactly as aiocoap writes it
                host = UDP6EndpointAddress(addr, self.interface).hostinfo
            else:  # a socket of its own
                ip = addr[0][7:] if addr[0].startswith("::ffff:") and "." in addr[0] else addr[0]
                host = hostportjoin(ip, None if addr[1] == aiocoap.COAP_PORT else addr[1])
            self._hostinfo[addr] = host
        return host

    # -- answers ----------------------------------------------------------------------------------
    def _answer(self, res: Result, route: _Route, key: Any, addr: Any, ancdata: list[Any], mid: bytes,
                token: bytes, remote: str) -> None:
        if res.error is not None:
            err = res.error
            if err.reason == "store_failed":
                self.dedup.forget(key)  # nothing stored: the retry is processed afresh
            else:
                log.warning("%s from %s refused: %s", route.uri, remote, err)
            self.counter.count(route.uri, err.reason, str(err), remote)
            msg = self._reply(addr, ancdata, mid, token, int(coap_code(err)), str(err).encode("utf-8")[:1024], CF_TEXT)
            if err.reason != "store_failed":
                self.dedup.answer(key, msg)
            return
        ack = res.ack
        assert ack is not None
        if len(ack) == 2 and ack.get("pc") == 0:  # {st, pc: 0}: most acks; encoded once a second
            st = ack["st"]
            if self._ack_cache[0] != st or self._ack_cache[1] != route.ack_cf:
                self._ack_cache = (st, route.ack_cf, messages.encode("ack", ack))
            payload = self._ack_cache[2]
        else:
            payload = messages.encode("ack", ack)
        self.dedup.answer(key, self._reply(addr, ancdata, mid, token, 0x44, payload, route.ack_cf))

    def _refuse(self, route: _Route, key: Any, t: float, addr: Any, ancdata: list[Any], mid: bytes, token: bytes,
                err: FleetError) -> None:
        remote = self._remote(addr)
        log.warning("%s from %s: %s", route.uri, remote, err)
        self.counter.count(route.uri, err.reason, str(err), remote)
        self.taken += 1
        msg = self._reply(addr, ancdata, mid, token, int(coap_code(err)), str(err).encode("utf-8")[:1024], CF_TEXT)
        self.dedup.reserve(key, t, msg)

    def _reply(self, addr: Any, ancdata: list[Any], mid: bytes, token: bytes, code: int, payload: bytes,
               cf: int) -> bytes:
        """A piggy-backed response (ACK) with a Content-Format option and the payload."""
        msg = bytes((0x60 | len(token), code)) + mid + token + _cf_option(cf)
        if payload:
            msg += b"\xff" + payload
        try:
            self.send(msg, addr, ancdata)  # type: ignore[misc]
        except OSError as e:  # the socket closed under a late commit: the device retransmits
            log.info("CoAP answer to %s not sent: %s", addr, e)
        return msg

    def _malformed(self, addr: Any, why: str) -> None:
        self.counter.count("coap", "malformed", why, self._remote(addr) if isinstance(addr, tuple) else None)


def enlarge_receive_buffer(context: aiocoap.Context, size: int = RCVBUF_BYTES) -> int:
    """Give the context's UDP sockets a 4 MB receive buffer (both ingest paths; docs/performance.md:
    the default ~200 datagrams overflow during a commit or a garbage collection, and each drop
    costs the device a 2-3 s retransmission). The kernel caps it at net.core.rmem_max; returns
    how many sockets were set."""
    n = 0
    for mm in message_managers(context):
        transport = getattr(mm.message_interface, "transport", None)
        if transport is None:
            continue
        sock: socket.socket = transport.get_extra_info("socket")
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            n += 1
        except OSError as e:
            log.warning("CoAP socket: SO_RCVBUF %d refused: %s", size, e)
    return n


def attach(context: aiocoap.Context, fast: FastPath) -> FastPath:
    """Put `fast` in front of the aiocoap context's udp6 socket(s)."""
    attached = 0
    for mm in message_managers(context):
        mi = mm.message_interface
        transport = getattr(mi, "transport", None)
        if transport is None or not hasattr(mi, "datagram_msg_received"):
            continue
        original = mi.datagram_msg_received
        sendmsg = transport.sendmsg
        def received(data: bytes, ancdata: Any, flags: int, address: Any, _orig: Any = original) -> None:
            reply = reader.reply_ancdata(ancdata)
            try:
                taken = fast.receive(data, address, reply)
            except Exception as e:  # noqa: BLE001 - a fast-path bug must not stop aiocoap's reader
                log.error("CoAP fast path failed on a datagram from %s: %r", address, e, exc_info=True)
                fast.counter.count("coap", "internal", repr(e)[:500], None)
                return
            if not taken:
                _orig(data, ancdata, flags, address)

        mi.datagram_msg_received = received
        reader.install(transport, mi)  # up to 64 datagrams per wake-up instead of one (fleet/coap/reader.py)
        fast.send = lambda data, addr, anc, _s=sendmsg: _s(data, anc, 0, addr)
        fast.interface = mi
        attached += 1
    if not attached:
        raise RuntimeError("CoAP fast path: the aiocoap context has no udp6 socket to sit in front of")
    fast._loop = asyncio.get_running_loop()  # noqa: SLF001 - set once, here
    return fast

"""Datagrams an ingest worker leaves to the main process, with the device's address.

Why: ingest workers (fleet/coap/ingest_worker.py) share the CoAP port with the main process
(SO_REUSEPORT), and the kernel gives each socket its own share of the devices. A worker takes
only plain heartbeats; everything else (registrations, events, command results, OSCORE, pings,
answers to the fleet's own requests) needs the state one process owns: aiocoap's exchanges, the
OSCORE contexts (one process per device context: sequence numbers and replay window), the
alarm notifier's wake-up. So the worker sends such a datagram here, over loopback, and the main
process feeds it to its own socket's receive path as if the device had sent it there; the answer
leaves from the main process's socket, which is bound to the same address and port, so the
device sees the one server it talks to.

One message: a 16-byte token (random per fleet start, given to each worker on its stdin, so no
other local process can inject datagrams under a forged sender address), the sender's port,
flow info and scope id, its host text, the IPv6 packet-info bytes of the datagram (which local
address it came to; the answer leaves from it), then the datagram itself."""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
import struct
from collections.abc import Callable
from typing import Any

from fleet.coap.fastpath import RCVBUF_BYTES  # as large as the CoAP socket's
from fleet.coap.reader import PKTINFO

log = logging.getLogger(__name__)

TOKEN_BYTES = 16
_HEAD = struct.Struct("!HIIB")  # port, flowinfo, scope id, host length

Address = tuple[str, int, int, int]


def pack(token: bytes, data: bytes, addr: Address, pktinfo: bytes | None) -> bytes:
    """One relayed datagram from `addr` (an AF_INET6 socket's 4-tuple)."""
    host = addr[0].encode("ascii")
    info = pktinfo or b""
    return b"".join((token, _HEAD.pack(addr[1], addr[2], addr[3], len(host)), host, bytes((len(info),)), info, data))


def unpack(token: bytes, msg: bytes) -> tuple[bytes, Address, bytes | None]:
    """(datagram, sender address, packet info) of a relayed message; ValueError names what is wrong."""
    if len(msg) < TOKEN_BYTES + _HEAD.size + 1:
        raise ValueError(f"relayed message of {len(msg)} bytes is shorter than its header")
    if not hmac.compare_digest(msg[:TOKEN_BYTES], token):
        raise ValueError("relayed message with a wrong token")
    port, flow, scope, n = _HEAD.unpack_from(msg, TOKEN_BYTES)
    at = TOKEN_BYTES + _HEAD.size
    host = msg[at : at + n].decode("ascii")
    at += n
    if at >= len(msg):
        raise ValueError("relayed message ends inside its header")
    m = msg[at]
    info = msg[at + 1 : at + 1 + m] if m else None
    at += 1 + m
    if at > len(msg) or (info is not None and len(info) != m):
        raise ValueError("relayed message ends inside its packet info")
    return msg[at:], (host, port, flow, scope), info


class RelayEndpoint(asyncio.DatagramProtocol):
    """The main process's end: a loopback UDP socket whose datagrams go to `deliver(data,
    ancdata, flags, address)` (the CoAP socket's receive path, fast path first)."""

    def __init__(self, token: bytes, deliver: Callable[[bytes, list[Any], int, Address], None],
                 count_bad: Callable[[str], None] | None = None) -> None:
        self.token = token
        self.deliver = deliver
        self.count_bad = count_bad
        self.relayed = 0
        self.refused = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        sock: socket.socket = transport.get_extra_info("socket")
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
        except OSError as e:
            log.warning("relay socket: SO_RCVBUF refused: %s", e)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def datagram_received(self, msg: bytes, src: Any) -> None:
        try:
            data, addr, info = unpack(self.token, msg)
        except (ValueError, UnicodeDecodeError) as e:
            self.refused += 1
            log.warning("relay: dropped a message from %s: %s", src, e)
            if self.count_bad is not None:
                self.count_bad(str(e))
            return
        self.relayed += 1
        try:
            self.deliver(data, [(*PKTINFO, info)] if info else [], 0, addr)
        except Exception:  # noqa: BLE001 - one datagram must not stop the relay
            log.exception("relay: a relayed datagram from %s failed", addr)


async def open_relay(token: bytes, deliver: Callable[[bytes, list[Any], int, Address], None],
                     count_bad: Callable[[str], None] | None = None) -> RelayEndpoint:
    """Listen on a free loopback port for the workers' relayed datagrams."""
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_datagram_endpoint(lambda: RelayEndpoint(token, deliver, count_bad),
                                                   local_addr=("127.0.0.1", 0))
    return proto

"""Reading the CoAP socket in batches: up to READS_PER_WAKE datagrams per wake-up of the loop.

Why: aiocoap's transport (aiocoap/util/asyncio/recvmsg.py) reads one datagram per readiness
event, and asks the error queue with a second recvmsg each time: per datagram one trip through
the event loop's select and two system calls. At thousands of datagrams a second that is a
measurable part of the fleet's CPU (docs/performance.md, "ingest workers"). Draining the socket
once it is readable costs one recvmsg per datagram and one loop trip per burst; the error queue
(ICMP errors for the fleet's own requests, which aiocoap turns into failed requests) is still
read on every wake-up, before the data.

`install(transport, protocol)` puts the batched reader in place of aiocoap's on its socket
(same callbacks: datagram_msg_received, datagram_errqueue_received, error_received);
`drain()` is the loop itself, used there and by the ingest workers on their own sockets;
`reply_ancdata()` picks what the answer to a datagram needs of its ancillary data."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from aiocoap.util import socknumbers

log = logging.getLogger(__name__)

READS_PER_WAKE = 64  # then back to the loop, so timers and the other sockets get their turn
MAX_DATAGRAM = 4096  # as aiocoap's transport
MAX_ANCDATA = 1024
ERRQUEUE_PER_WAKE = 16

Handler = Callable[[bytes, list[Any], int, Any], None]
PKTINFO = (socket.IPPROTO_IPV6, socket.IPV6_PKTINFO)


def reply_ancdata(ancdata: list[Any]) -> list[Any]:
    """The packet-info entry of a received datagram's ancillary data: which local address it came
    to, so the answer leaves from that address (aiocoap answers the same way)."""
    return [c for c in ancdata if (c[0], c[1]) == PKTINFO]


def drain(sock: socket.socket, deliver: Handler, *, errqueue: Handler | None = None,
          error: Callable[[OSError], None] | None = None) -> int:
    """Read what is waiting (at most READS_PER_WAKE datagrams); returns how many were read."""
    if errqueue is not None and socknumbers.HAS_RECVERR:
        for _ in range(ERRQUEUE_PER_WAKE):
            try:
                data, anc, flags, addr = sock.recvmsg(MAX_DATAGRAM, MAX_ANCDATA, socknumbers.MSG_ERRQUEUE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # nothing usable queued (some kernels report an empty queue so)
                break
            errqueue(data, anc, flags, addr)
    n = 0
    while n < READS_PER_WAKE:
        try:
            data, anc, flags, addr = sock.recvmsg(MAX_DATAGRAM, MAX_ANCDATA)
        except (BlockingIOError, InterruptedError):
            break
        except OSError as e:
            if error is not None:
                error(e)
            break
        n += 1
        deliver(data, anc, flags, addr)
    return n


def install(transport: Any, protocol: Any) -> None:
    """Replace aiocoap's one-datagram reader on `transport`'s socket with `drain`, delivering to
    `protocol` (the udp6 message interface) exactly as aiocoap's reader does."""
    sock: socket.socket = transport.get_extra_info("socket")
    loop = asyncio.get_running_loop()

    def readable() -> None:
        try:  # looked up per wake: the fast path wraps datagram_msg_received on the instance
            drain(sock, protocol.datagram_msg_received, errqueue=protocol.datagram_errqueue_received,
                  error=protocol.error_received)
        except Exception:  # noqa: BLE001 - the reader must stay installed whatever one datagram did
            log.exception("CoAP socket reader: a datagram's handling failed")

    loop.remove_reader(sock.fileno())
    loop.add_reader(sock.fileno(), readable)

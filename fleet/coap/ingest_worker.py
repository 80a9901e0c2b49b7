"""An ingest worker: one more process taking device heartbeats off the fleet's CoAP port.

Why: the fleet's ingest is Python, and one process answers what one core can (9,000-11,000
heartbeats a second on the benchmark machine, docs/performance.md). `gasguard serve
--ingest-workers N` starts N of these beside the main process (fleet/coap/workers.py). Each
binds its own UDP socket to the main process's CoAP address and port with SO_REUSEPORT (aiocoap
sets it on its socket too), so the kernel spreads the devices over the processes by their
address, always the same device to the same socket while the set of sockets stays the same.

What a worker does: the fast path (fleet/coap/fastpath.py) for plain heartbeats, with its own
de-duplication cache and batch writer to the same database (acknowledged still means
committed). Everything else it receives goes to the main process through the relay
(fleet/coap/relay.py): registrations, events, command results, OSCORE, pings, responses to
the fleet's requests, and the plain heartbeats of any device that has an OSCORE key (the main
process owns the device contexts and decides whether such a message is refused).

Started by the main process as `python -m fleet.coap.ingest_worker` with one JSON line on stdin
(settings, bind address, relay port, token); it prints `{"ready": ...}` once listening, a stats
line every few seconds, and exits cleanly (committing what it holds) on SIGTERM or when its
stdin closes (the main process is gone)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from typing import Any

from sqlalchemy import select

from fleet.coap import reader
from fleet.coap.fastpath import RCVBUF_BYTES, FastPath
from fleet.coap.relay import pack
from fleet.core.config import Settings
from fleet.core.heap import freeze_after_warm_up, freeze_startup_heap
from fleet.ingest.core import Ingestor
from fleet.ingest.counters import ErrorCounter
from fleet.ingest.writer import BatchWriter
from fleet.provision.models import DeviceCredential
from fleet.store.db import Database

log = logging.getLogger("fleet.ingest_worker")

KINDS = frozenset({"heartbeat"})
KEYS_REFRESH_S = 1.0  # how soon a newly issued device key is seen (before, the main process decides too)
COUNTER_FLUSH_S = 10.0
STATS_S = 2.0


class KeyedDevices:
    """The worker's view of OSCORE for the fast path: a plain uplink naming a device that has a
    key is left to the main process (stricter than the main process's own rule, which refuses
    only once the device has spoken OSCORE). Keys are only ever added here; re-read incrementally."""

    def __init__(self, db: Database, *, require_all: bool = False) -> None:
        self.db = db
        self.require_all = require_all
        self._ids: set[str] = set()
        self._last_id = 0

    def refresh(self) -> int:
        with self.db.session() as session:
            rows = session.execute(select(DeviceCredential.id, DeviceCredential.device_id)
                                   .where(DeviceCredential.id > self._last_id)).all()
        for row_id, device_id in rows:
            self._ids.add(device_id)
            self._last_id = max(self._last_id, row_id)
        return len(rows)

    def requires_oscore(self, device_id: str) -> bool:
        return self.require_all or device_id in self._ids

    def plain_from(self, remote: str | None) -> None:
        """The main process keeps the addresses of OSCORE devices; nothing to do here."""

    def __len__(self) -> int:
        return len(self._ids)


def bind_shared(host: str, port: int) -> socket.socket:
    """A socket on the main process's CoAP address and port, as aiocoap's udp6 binds its own
    (AF_INET6, dual stack, SO_REUSEPORT, packet info on), so both are in one reuse-port group."""
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)
        sock.bind((host, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class Worker:
    """The socket, the fast path, the writer and the relay of one worker process."""

    def __init__(self, settings: Settings, bind: tuple[str, int], relay_port: int, token: bytes) -> None:
        self.settings = settings
        self.bind = bind
        self.relay_addr = ("127.0.0.1", relay_port)
        self.token = token
        self.db = Database(settings.db, sqlite_synchronous=settings.sqlite_synchronous, background_checkpoint=True)
        self.counter = ErrorCounter()
        self.writer = BatchWriter(self.db, Ingestor(settings), batch_max=settings.ingest_batch_max,
                                  wait_ms=settings.ingest_batch_wait_ms)
        self.keyed = KeyedDevices(self.db, require_all=settings.oscore_required)
        self.fast = FastPath(self.writer, self.counter, dedup_lifetime_s=settings.coap_dedup_lifetime_s,
                             contexts=self.keyed, kinds=KINDS)
        self.sock: socket.socket | None = None
        self.relay_sock: socket.socket | None = None
        self.relayed = 0
        self.relay_failed = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        await self.writer.start()
        await asyncio.to_thread(self.keyed.refresh)
        self.relay_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.relay_sock.setblocking(False)
        self.sock = bind_shared(*self.bind)
        sendmsg = self.sock.sendmsg
        self.fast.send = lambda data, addr, anc: sendmsg([data], anc, 0, addr)
        self.fast._loop = loop  # noqa: SLF001 - as fleet/coap/fastpath.py attach() sets it
        loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        if self.sock is not None:
            reader.drain(self.sock, self._datagram)

    def _datagram(self, data: bytes, anc: list[Any], _flags: int, addr: Any) -> None:
        reply = reader.reply_ancdata(anc)
        try:
            taken = self.fast.receive(data, addr, reply)
        except Exception as e:  # noqa: BLE001 - a fast-path bug must not stop the reader
            log.error("CoAP fast path failed on a datagram from %s: %r", addr, e, exc_info=True)
            self.counter.count("coap", "internal", repr(e)[:500], None)
            return
        if not taken:
            self._relay(data, addr, reply[0][2] if reply else None)

    def _relay(self, data: bytes, addr: Any, pktinfo: bytes | None) -> None:
        assert self.relay_sock is not None
        try:
            self.relay_sock.sendto(pack(self.token, data, addr, pktinfo), self.relay_addr)
            self.relayed += 1
        except OSError as e:  # the main process's buffer is full or it is gone: the device retransmits
            self.relay_failed += 1
            log.debug("relay to the main process failed: %s", e)

    def stats(self) -> dict[str, Any]:
        return {"taken": self.fast.taken, "duplicates": self.fast.duplicates, "relayed": self.relayed,
                "relay_failed": self.relay_failed, "stored": self.writer.messages, "batches": self.writer.batches,
                "failed_batches": self.writer.failed_batches, "keyed_devices": len(self.keyed)}

    async def stop(self) -> None:
        """Stop reading, commit and answer what is held, write the error counters."""
        if self.sock is not None:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        await self.writer.stop()  # answers still leave through the socket
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.counter.flush, self.db.sessions)
        if self.relay_sock is not None:
            self.relay_sock.close()
        self.db.dispose()


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def _every(seconds: float, fn: Any) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await fn()
        except Exception as e:  # noqa: BLE001 - a failed refresh is retried next time
            log.warning("worker: %s failed: %r", getattr(fn, "__name__", fn), e)


async def main(cfg: dict[str, Any]) -> int:
    settings = Settings(**cfg["settings"])
    worker = Worker(settings, (cfg["bind"][0], int(cfg["bind"][1])), int(cfg["relay_port"]),
                    bytes.fromhex(cfg["token"]))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    # the main process's stdin pipe: at EOF it is gone, and so is this worker
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    await worker.start()
    freeze_startup_heap()  # as the main process (fleet/core/heap.py)
    freeze_after_warm_up(loop)
    _emit({"ready": {"pid": os.getpid(), "bind": list(worker.bind), "keyed_devices": len(worker.keyed)}})

    async def refresh_keys() -> None:
        await worker.writer.run(worker.keyed.refresh)

    async def flush_counter() -> None:
        await worker.writer.run(worker.counter.flush, worker.db.sessions)

    async def stats() -> None:
        _emit({"stats": worker.stats(), "t": time.time()})

    async def stdin_closed() -> None:
        await reader.read()  # returns at EOF
        stop.set()

    tasks = [asyncio.create_task(c) for c in (_every(KEYS_REFRESH_S, refresh_keys),
                                               _every(COUNTER_FLUSH_S, flush_counter),
                                               _every(STATS_S, stats), stdin_closed())]
    await stop.wait()
    for t in tasks:
        t.cancel()
    await worker.stop()
    _emit({"stopped": worker.stats()})
    return 0


def run() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the main process, which stops us
    line = sys.stdin.buffer.readline()
    try:
        cfg = json.loads(line)
    except ValueError:
        print("ingest worker: expected one JSON line of configuration on stdin", file=sys.stderr)
        return 2
    logging.basicConfig(level=cfg.get("log_level", "WARNING"),
                        format=f"%(asctime)s %(levelname)s ingest-worker-{cfg.get('index', '?')}: %(message)s")
    try:
        return asyncio.run(main(cfg))
    except OSError as e:
        print(f"ingest worker: cannot listen on {cfg.get('bind')}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(run())

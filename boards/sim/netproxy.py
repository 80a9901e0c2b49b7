"""A UDP relay between a virtual board and the fleet that can cut, delay and lose datagrams.

The board is provisioned with the relay's `board_addr` as its fleet address; the relay sends
from its own `fleet_side` socket, so the fleet sees that address as the device and its polls
(GET /health) reach the board through the same relay. Degradation applies both ways:
`cut` drops everything, `delay_ms` (+ uniform `jitter_ms`) holds each datagram, `loss` drops
each datagram with that probability. Counters say what happened.
"""

from __future__ import annotations

import heapq
import random
import select
import socket
import threading
import time


class NetProxy:
    def __init__(self, upstream: tuple[str, int], seed: int | None = None) -> None:
        self.upstream = upstream
        self.cut = False
        self.delay_ms = 0
        self.jitter_ms = 0
        self.loss = 0.0
        self.counts = {"up": 0, "down": 0, "dropped": 0}
        self._rng = random.Random(seed)
        self._board = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._board.bind(("127.0.0.1", 0))
        self._fleet = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._fleet.bind(("127.0.0.1", 0))
        self._board_peer: tuple[str, int] | None = None
        self._queue: list[tuple[float, int, socket.socket, bytes, tuple[str, int]]] = []
        self._n = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="netproxy", daemon=True)
        self._thread.start()

    @property
    def board_addr(self) -> tuple[str, int]:
        """Where the board sends (its configured fleet address)."""
        return self._board.getsockname()

    @property
    def fleet_side(self) -> tuple[str, int]:
        """The address the fleet sees as the device."""
        return self._fleet.getsockname()

    def degrade(self, *, cut: bool | None = None, delay_ms: int | None = None,
                jitter_ms: int | None = None, loss: float | None = None) -> None:
        """Change conditions; ValueError on a value out of range."""
        if delay_ms is not None and not 0 <= delay_ms <= 600000:
            raise ValueError("delay_ms %r: expected 0..600000" % delay_ms)
        if jitter_ms is not None and not 0 <= jitter_ms <= 600000:
            raise ValueError("jitter_ms %r: expected 0..600000" % jitter_ms)
        if loss is not None and not 0.0 <= loss <= 1.0:
            raise ValueError("loss %r: expected a probability 0..1" % loss)
        with self._lock:
            if cut is not None:
                self.cut = cut
            if delay_ms is not None:
                self.delay_ms = delay_ms
            if jitter_ms is not None:
                self.jitter_ms = jitter_ms
            if loss is not None:
                self.loss = loss

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._board.close()
        self._fleet.close()

    def _enqueue(self, sock: socket.socket, data: bytes, dest: tuple[str, int], way: str) -> None:
        with self._lock:
            if self.cut or (self.loss and self._rng.random() < self.loss):
                self.counts["dropped"] += 1
                return
            self.counts[way] += 1
            delay = self.delay_ms + (self._rng.uniform(0, self.jitter_ms) if self.jitter_ms else 0)
            self._n += 1
            heapq.heappush(self._queue, (time.monotonic() + delay / 1000.0, self._n, sock, data, dest))

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                wait = 0.05
                if self._queue:
                    wait = max(0.0, min(wait, self._queue[0][0] - time.monotonic()))
            try:
                r, _, _ = select.select([self._board, self._fleet], [], [], wait)
            except (OSError, ValueError):
                return
            for s in r:
                try:
                    data, addr = s.recvfrom(65536)
                except OSError:
                    continue
                if s is self._board:
                    self._board_peer = addr
                    self._enqueue(self._fleet, data, self.upstream, "up")
                elif self._board_peer is not None:
                    self._enqueue(self._board, data, self._board_peer, "down")
            now = time.monotonic()
            while True:
                with self._lock:
                    if not self._queue or self._queue[0][0] > now:
                        break
                    _, _, sock, data, dest = heapq.heappop(self._queue)
                try:
                    sock.sendto(data, dest)
                except OSError:
                    pass

"""The main process's side of ingest workers: start them, keep them running, stop them.

Why a pool of processes and not threads: the fast path is Python and holds the GIL; a second
core only helps in a second process. How the work is shared and what a worker does:
fleet/coap/ingest_worker.py; how what a worker does not take comes back here: fleet/coap/relay.py.

A worker that dies is started again (after 1 s, doubling to 30 s while it keeps failing); in
the meantime the kernel gives its devices to the sockets that remain, so nothing but a few
retransmissions is lost. A worker that cannot start never stops the fleet: the main process
ingests everything, as with no workers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import signal
import sys
from typing import Any

from fleet.coap.fastpath import FastPath
from fleet.coap.relay import RelayEndpoint, open_relay
from fleet.core.config import Settings

log = logging.getLogger(__name__)

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
RESTART_FIRST_S = 1.0
RESTART_MAX_S = 30.0


class IngestWorkers:
    """`count` worker processes sharing the CoAP port of `fast`'s socket (a FastPath attached to
    the aiocoap server's udp6 socket: `fast.interface` is its message interface)."""

    def __init__(self, settings: Settings, fast: FastPath, count: int, *, count_bad: Any = None) -> None:
        if count < 1:
            raise ValueError(f"ingest workers: count must be at least 1, got {count}")
        self.settings = settings
        self.count = count
        self.token = secrets.token_bytes(16)
        self.relay: RelayEndpoint | None = None
        self.stats: dict[int, dict[str, Any]] = {}
        self.pids: dict[int, int] = {}
        self.restarts = 0
        self._count_bad = count_bad
        if fast.interface is None:
            raise RuntimeError("ingest workers: the fast path is not attached to a CoAP socket")
        self._mi = fast.interface
        sockname = self._mi.transport.get_extra_info("socket").getsockname()
        self.bind = (sockname[0], int(sockname[1]))
        self._procs: dict[int, asyncio.subprocess.Process] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._ready: dict[int, asyncio.Event] = {}
        self._stopping = False

    def _deliver(self, data: bytes, ancdata: list[Any], flags: int, address: Any) -> None:
        # looked up per datagram: the fast path's wrapper, which hands aiocoap what it does not take
        self._mi.datagram_msg_received(data, ancdata, flags, address)

    async def start(self) -> None:
        """Open the relay and start every worker; returns once each is listening or has failed
        (a failed one is retried in the background)."""
        self.relay = await open_relay(self.token, self._deliver, self._count_bad)
        for i in range(self.count):
            self._ready[i] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._keep(i), name=f"fleet-ingest-worker-{i}"))
        waits = [asyncio.create_task(e.wait()) for e in self._ready.values()]
        _, pending = await asyncio.wait(waits, timeout=READY_TIMEOUT_S)
        for w in pending:
            w.cancel()
        ready = sum(1 for e in self._ready.values() if e.is_set())
        log.info("ingest workers: %d of %d listening on %s port %d", ready, self.count, *self.bind)

    def _config(self, index: int) -> bytes:
        settings = self.settings.model_dump(mode="json", exclude={"credential_key", "credential_key_file"})
        cfg = {"settings": settings, "bind": list(self.bind), "relay_port": self.relay.port if self.relay else 0,
               "token": self.token.hex(), "index": index,
               "log_level": logging.getLevelName(max(logging.getLogger().getEffectiveLevel(), logging.WARNING))}
        return (json.dumps(cfg) + "\n").encode()

    async def _keep(self, index: int) -> None:
        delay = RESTART_FIRST_S
        while not self._stopping:
            started = asyncio.get_running_loop().time()
            try:
                await self._run_one(index)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - keep trying; the main process ingests meanwhile
                log.error("ingest worker %d: %r", index, e)
            if self._stopping:
                return
            if asyncio.get_running_loop().time() - started > RESTART_MAX_S:
                delay = RESTART_FIRST_S  # it ran a while: a fresh failure, not the same one again
            log.error("ingest worker %d stopped; starting it again in %.0f s", index, delay)
            self.restarts += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, RESTART_MAX_S)

    async def _run_one(self, index: int) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fleet.coap.ingest_worker", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, env=env)
        self._procs[index] = proc
        self.pids[index] = proc.pid
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(self._config(index))
        await proc.stdin.drain()  # stdin stays open: the worker exits when it closes
        try:
            async for line in proc.stdout:
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if "ready" in msg:
                    self._ready[index].set()
                    log.info("ingest worker %d ready: %s", index, msg["ready"])
                elif "stats" in msg:
                    self.stats[index] = msg["stats"]
                elif "stopped" in msg:
                    self.stats[index] = msg["stopped"]
                    log.info("ingest worker %d stopped: %s", index, msg["stopped"])
        finally:
            code = await proc.wait()
            self._procs.pop(index, None)
            if not self._stopping:
                log.error("ingest worker %d (pid %d) exited with %s", index, proc.pid, code)

    async def stop(self) -> None:
        """SIGTERM every worker (each commits and answers what it holds), then close the relay."""
        self._stopping = True
        procs = list(self._procs.values())
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                await asyncio.wait_for(p.wait(), STOP_TIMEOUT_S)
            except asyncio.TimeoutError:
                log.error("ingest worker pid %d did not stop in %.0f s; killing it", p.pid, STOP_TIMEOUT_S)
                with contextlib.suppress(ProcessLookupError):
                    p.kill()
                await p.wait()
        if self._tasks:  # let each read its worker's last line (the final stats)
            await asyncio.wait(self._tasks, timeout=2.0)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()
        if self.relay is not None and self.relay.transport is not None:
            self.relay.transport.close()
            self.relay = None

    def summary(self) -> dict[str, Any]:
        return {"workers": self.count, "pids": dict(self.pids), "restarts": self.restarts,
                "relayed": self.relay.relayed if self.relay else 0, "stats": dict(self.stats)}

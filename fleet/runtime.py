"""The running fleet service: the store, the ingest writer, the CoAP server, the background
loops, and the operations that need all of them (sending a command to a device now, polling
one device). `gasguard serve` builds one `Fleet`, the HTTP app and the dashboard use it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import select

from fleet.coap.client import DeviceClient
from fleet.coap.fastpath import FastPath, attach, enlarge_receive_buffer
from fleet.coap.workers import IngestWorkers
from fleet.coap.server import CoapServer
from fleet.core.clock import now
from fleet.core.config import Settings
from fleet.core.errors import Conflict, NotFound, Unavailable
from fleet.ingest.core import Ingestor, Item, Result
from fleet.ingest.counters import ErrorCounter
from fleet.ingest.writer import BatchWriter
from fleet.services import commands
from fleet.store.db import Database, wait_until_reachable
from fleet.store.migrate import upgrade
from fleet.store.models import Command, Device
from fleet.tasks.housekeeping import run_housekeeping
from fleet.tasks.notifier import run_notifier
from fleet.tasks.poller import run_poller

log = logging.getLogger(__name__)


class Fleet:
    """Owns everything it starts; `stop()` undoes `start()` in reverse order."""

    def __init__(self, settings: Settings, *, database: Database | None = None) -> None:
        self.settings = settings
        self.db = database or Database(settings.db, sqlite_synchronous=settings.sqlite_synchronous,
                                          background_checkpoint=True)
        self.ingestor = Ingestor(settings)
        self.counter = ErrorCounter()
        self.writer = BatchWriter(self.db, self.ingestor, batch_max=settings.ingest_batch_max,
                                  wait_ms=settings.ingest_batch_wait_ms, on_commit=self._on_commit)
        self.coap: CoapServer | None = None
        self.fastpath: FastPath | None = None
        self.device_client: DeviceClient | None = None
        self.workers: IngestWorkers | None = None
        self.notify_kick = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.started = False

    def _on_commit(self, items: list[Item], results: list[Result]) -> None:
        # In the writer thread: wake the notifier when an alarm event was stored.
        if any(it.kind == "event" and it.body.get("k") == "alarm" and r.ack and not r.duplicate
               for it, r in zip(items, results)):
            self._loop.call_soon_threadsafe(self.notify_kick.set)

    async def start(self, *, migrate: bool = True, coap: bool = True, background: bool = True) -> None:
        if self.started:
            raise RuntimeError("Fleet already started")
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(wait_until_reachable, self.db.engine, attempts=self.settings.db_connect_attempts)
        if migrate:
            await asyncio.to_thread(upgrade, self.db.url)
        await self.writer.start()
        if coap:
            coap_server = CoapServer(self.writer, self.counter, host=self.settings.coap_host,
                                     port=self.settings.coap_port, dedup_lifetime_s=self.settings.coap_dedup_lifetime_s)
            try:
                await coap_server.start()
            except OSError:
                await self.writer.stop()
                raise
            self.coap = coap_server
            assert self.coap.context is not None
            enlarge_receive_buffer(self.coap.context)
            if self.settings.coap_ingest == "fast":  # device uplinks off aiocoap's pipeline (fleet/coap/fastpath.py)
                self.fastpath = attach(self.coap.context, FastPath(
                    self.writer, self.counter, dedup_lifetime_s=self.settings.coap_dedup_lifetime_s,
                    contexts=getattr(self.coap, "contexts", None)))
            self.device_client = DeviceClient(self.coap.context, timeout_s=self.settings.poll_timeout_s)
            await self._start_workers()
        if background:
            for fn in (run_poller, run_housekeeping, run_notifier):
                self._tasks.append(asyncio.create_task(fn(self), name=f"fleet-{fn.__name__}"))
        self.started = True

    async def _start_workers(self) -> None:
        n = self.settings.ingest_workers
        if not n:
            return
        if self.fastpath is None:
            log.warning("ingest_workers = %d ignored: workers share the fast path (coap_ingest = fast)", n)
            return
        self.workers = IngestWorkers(self.settings, self.fastpath, n,
                                     count_bad=lambda why: self.counter.count("coap", "relay", why, None))
        await self.workers.start()

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass
        self._tasks.clear()
        if self.workers is not None:
            await self.workers.stop()
            self.workers = None
        if self.coap is not None:
            await self.coap.stop()
            self.coap = None
            self.fastpath = None
            self.device_client = None
        try:
            await self.writer.run(self.counter.flush, self.db.sessions)
        except Exception as e:  # noqa: BLE001 - shutting down; say so and go on
            log.error("could not write ingest error counters at shutdown: %r", e)
        await self.writer.stop()
        self.db.dispose()
        self.started = False

    @property
    def coap_port(self) -> int | None:
        return self.coap.port if self.coap else None

    # -- operations that need the device ---------------------------------------------------

    def _prepare_direct(self, command_id: int) -> tuple[str, dict[str, Any], str]:
        with self.db.session() as session:
            cmd = commands.get(session, command_id)
            if cmd.state not in commands.OPEN_STATES:
                raise Conflict(f"command {command_id} is already {cmd.state}", reason="command_final")
            device = session.scalars(select(Device).where(Device.device_id == cmd.device_id)).one()
            if not device.address:
                raise Unavailable(f"device {cmd.device_id!r} has no known address yet; the command waits for "
                                  "its next report", reason="no_address")
            commands.mark_sent_direct(session, cmd)
            session.commit()
            return device.address, commands.wire(cmd), cmd.device_id

    def _record_direct(self, device_id: str, result: dict[str, Any]) -> Command:
        with self.db.session() as session:
            cmd = commands.record_result(session, device_id=device_id, result=result, at=now())
            session.commit()
            return cmd

    async def deliver_command(self, command_id: int) -> Command:
        """Send a pending command to its device now (POST /cmd) and record the result.
        If the device cannot be reached the command stays `sent` and is offered again in the
        next ack, so it is never lost."""
        if self.device_client is None:
            raise Unavailable("the CoAP side is not running; the command waits for the device's next report",
                              reason="coap_off")
        address, wire, device_id = await self.writer.run(self._prepare_direct, command_id)
        result = await self.device_client.send_command(address, wire)
        if result.get("id") != command_id:
            raise Unavailable(f"device {device_id!r} answered for command {result.get('id')}, not {command_id}",
                              reason="device_error")
        result.setdefault("dev", device_id)
        return await self.writer.run(self._record_direct, device_id, result)

    async def poll_device(self, device_id: str) -> dict[str, Any]:
        """Ask one device for its health now and ingest the answer."""
        if self.device_client is None:
            raise Unavailable("the CoAP side is not running", reason="coap_off")

        def addr() -> str | None:
            with self.db.session() as session:
                d = session.scalars(select(Device).where(Device.device_id == device_id)).first()
                if d is None:
                    raise NotFound(f"device {device_id!r} not found", reason="device_not_found")
                return d.address

        address = await self.writer.run(addr)
        if not address:
            raise Unavailable(f"device {device_id!r} has no known address yet", reason="no_address")
        body = await self.device_client.get_health(address)
        res = await self.writer.submit(Item(kind="heartbeat", body=body, at=now(), remote=address))
        if res.error is not None:
            raise res.error
        return body

"""The asyncio side of ingest: gather messages into batches, commit them in one worker thread,
answer each message only after its batch is committed.

Batching rule: a batch starts with the first message queued after the previous commit; it is
committed when it holds `ingest_batch_max` messages or `ingest_batch_wait_ms` after that first
message, whichever comes first. One batch is in the database thread at a time; what arrives
meanwhile forms the next one (group commit). Under light load a message waits about the batch
wait; under heavy load batches fill up and the commit cost is shared.

Why callbacks and a timer, not a queue and a waiting task: a UDP transport hands over one
datagram per event-loop turn, so a consumer task that waits for "the next item, or the deadline"
wakes (a task, a timer) once per message. Here a message is one list append; the loop wakes once
per batch. `enqueue(item, done)` is that path (the CoAP fast path uses it); `submit(item)` wraps
it in a future for coroutines.

One writer thread: SQLite allows one writer anyway, and on PostgreSQL one connection per ingest
process keeps row-lock order simple; more throughput comes from more ingest processes.

If a batch fails as a whole (a database error), its messages are retried one per transaction so
one bad message cannot sink the others; a message that still fails gets `Unavailable` (5.03) and
the device retries later. Nothing is acknowledged that was not committed."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from fleet.core.errors import Unavailable
from fleet.ingest.core import Ingestor, Item, Result
from fleet.store.db import Database

log = logging.getLogger(__name__)

Done = Callable[[Result], None]


def _unavailable() -> Result:
    return Result(error=Unavailable("the fleet could not store this message; retry later", reason="store_failed"))


class BatchWriter:
    """Owns one database thread. `start()`, then `enqueue(item, done)` or `await submit(item)`;
    `stop()` commits what is queued and releases the thread."""

    def __init__(self, database: Database, ingestor: Ingestor, *, batch_max: int = 512, wait_ms: float = 2.0,
                 on_commit: Callable[[list[Item], list[Result]], None] | None = None) -> None:
        self.db = database
        self.ingestor = ingestor
        self.batch_max = batch_max
        self.wait_s = wait_ms / 1000.0
        self.on_commit = on_commit
        self._pending: list[tuple[Item, Done]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._inflight: asyncio.Future[list[Result]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.batches = 0
        self.messages = 0
        self.failed_batches = 0
        self.last_batch_s = 0.0

    async def start(self) -> None:
        if self._pool is not None:
            raise RuntimeError("BatchWriter already started")
        self._loop = asyncio.get_running_loop()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleet-ingest")

    async def stop(self) -> None:
        """Commit what is queued, then release the thread."""
        if self._pool is None:
            return
        while self._pending or self._inflight is not None:
            if self._inflight is None:
                self._flush()
            if self._inflight is not None:
                await asyncio.wait([self._inflight])  # its answers go out first (done callback)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pool.shutdown(wait=True)
        self._pool = None

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn(*args)` in the database thread (after nothing: it is not batched). Background
        tasks use this so that, on SQLite, every write comes from the one thread."""
        if self._pool is None:
            raise RuntimeError("BatchWriter is not running; call start() first")
        # with the caller's context, as asyncio.to_thread does (a request's township scope, fleet/security/scope.py)
        return await asyncio.get_running_loop().run_in_executor(self._pool, contextvars.copy_context().run, fn, *args)

    @property
    def queued(self) -> int:
        """Messages waiting for a batch (not counting the one being committed)."""
        return len(self._pending)

    async def submit(self, item: Item) -> Result:
        """Queue one message and wait until its batch is committed (or failed)."""
        fut: asyncio.Future[Result] = asyncio.get_running_loop().create_future()

        def done(res: Result) -> None:
            if not fut.done():
                fut.set_result(res)

        self.enqueue(item, done)
        return await fut

    def enqueue(self, item: Item, done: Done) -> None:
        """Queue one message; `done(result)` is called in the loop's thread after its batch is
        committed (or has failed). Must be called from the loop's thread."""
        if self._pool is None:
            raise RuntimeError("BatchWriter is not running; call start() first")
        self._pending.append((item, done))
        if self._inflight is not None:
            return  # the next batch starts when this commit ends
        if len(self._pending) >= self.batch_max:
            self._flush()
        elif self._timer is None:
            assert self._loop is not None
            self._timer = self._loop.call_later(self.wait_s, self._flush)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._inflight is not None or not self._pending or self._pool is None:
            return
        batch, self._pending = self._pending[: self.batch_max], self._pending[self.batch_max :]
        assert self._loop is not None
        fut = self._loop.run_in_executor(self._pool, self._commit, [it for it, _ in batch])
        self._inflight = fut
        fut.add_done_callback(lambda f, b=batch: self._committed(f, b))  # type: ignore[misc]

    def _committed(self, fut: asyncio.Future[list[Result]], batch: list[tuple[Item, Done]]) -> None:
        self._inflight = None
        try:
            results = fut.result()
        except Exception as e:  # noqa: BLE001 - the writer must survive anything
            log.error("ingest batch of %d failed unexpectedly: %r", len(batch), e, exc_info=True)
            results = [_unavailable() for _ in batch]
        for (_, done), res in zip(batch, results):
            try:
                done(res)
            except Exception:  # noqa: BLE001 - one answer must not stop the others
                log.exception("ingest: answering a committed message failed")
        if self._pending:
            if len(self._pending) >= self.batch_max:
                self._flush()
            elif self._timer is None:
                assert self._loop is not None
                # these have waited at least the commit already: give the batch the usual wait at most
                self._timer = self._loop.call_later(self.wait_s, self._flush)

    def _commit(self, items: list[Item]) -> list[Result]:
        """In the worker thread: one transaction for the batch, or one per item on failure."""
        t0 = time.perf_counter()
        try:
            with self.db.session() as session:
                results = self.ingestor.process(session, items)
                session.commit()
        except SQLAlchemyError as e:
            self.failed_batches += 1
            log.info("ingest batch of %d failed (%s); retrying one by one", len(items), type(e).__name__)
            results = [self._commit_one(it) for it in items]
        self.batches += 1
        self.messages += len(items)
        self.last_batch_s = time.perf_counter() - t0
        if self.on_commit is not None:
            try:
                self.on_commit(items, results)
            except Exception:  # noqa: BLE001
                log.exception("on_commit hook failed")
        return results

    def _commit_one(self, item: Item) -> Result:
        try:
            with self.db.session() as session:
                (res,) = self.ingestor.process(session, [item])
                session.commit()
                return res
        except SQLAlchemyError as e:
            log.error("could not store %s from %s: %s", item.kind, item.body.get("dev"), e)
            res = _unavailable()
            res.device_id = item.body.get("dev")
            return res


def summary(writer: BatchWriter) -> dict[str, Any]:
    return {"batches": writer.batches, "messages": writer.messages, "failed_batches": writer.failed_batches,
            "queued": writer.queued, "last_batch_ms": round(writer.last_batch_s * 1000, 3)}

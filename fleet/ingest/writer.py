"""The asyncio side of ingest: gather messages into batches, commit them in one worker thread,
answer each message only after its batch is committed.

Batching rule: the worker takes whatever is queued (up to `ingest_batch_max`); if that is less
than a full batch it waits up to `ingest_batch_wait_ms` for more, then commits. Under light load a
message waits about that long; under heavy load batches fill up and the commit cost is shared.

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


class BatchWriter:
    """Owns one worker task and one database thread. `start()`, then `await submit(item)`;
    `stop()` finishes what is queued and releases the thread."""

    def __init__(self, database: Database, ingestor: Ingestor, *, batch_max: int = 512, wait_ms: float = 2.0,
                 on_commit: Callable[[list[Item], list[Result]], None] | None = None) -> None:
        self.db = database
        self.ingestor = ingestor
        self.batch_max = batch_max
        self.wait_s = wait_ms / 1000.0
        self.on_commit = on_commit
        self._queue: asyncio.Queue[tuple[Item, asyncio.Future[Result]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.batches = 0
        self.messages = 0
        self.failed_batches = 0
        self.last_batch_s = 0.0

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("BatchWriter already started")
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fleet-ingest")
        self._task = asyncio.create_task(self._run(), name="fleet-ingest-writer")

    async def stop(self) -> None:
        """Commit what is queued, then stop the worker and the thread."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None
        if self._pool is not None:
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
        return self._queue.qsize()

    async def submit(self, item: Item) -> Result:
        """Queue one message and wait until its batch is committed (or failed)."""
        if self._task is None:
            raise RuntimeError("BatchWriter is not running; call start() first")
        fut: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, fut))
        return await fut

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            batch = [first]
            deadline = loop.time() + self.wait_s
            while len(batch) < self.batch_max:
                try:
                    batch.append(self._queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            items = [it for it, _ in batch]
            try:
                results = await loop.run_in_executor(self._pool, self._commit, items)
            except Exception as e:  # noqa: BLE001 - the worker must survive anything
                log.error("ingest batch of %d failed unexpectedly: %r", len(items), e, exc_info=True)
                results = [Result(error=Unavailable("the fleet could not store this message; retry later",
                                                    reason="store_failed")) for _ in items]
            for (_, fut), res in zip(batch, results):
                if not fut.done():
                    fut.set_result(res)
                self._queue.task_done()

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
            return Result(error=Unavailable("the fleet could not store this message; retry later",
                                            reason="store_failed"), device_id=item.body.get("dev"))


def summary(writer: BatchWriter) -> dict[str, Any]:
    return {"batches": writer.batches, "messages": writer.messages, "failed_batches": writer.failed_batches,
            "queued": writer.queued, "last_batch_ms": round(writer.last_batch_s * 1000, 3)}

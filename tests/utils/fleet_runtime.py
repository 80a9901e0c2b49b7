"""Run a fleet (`fleet.serve.serving`) for a test: in-process on a background event loop, so
sync tests (Playwright, httpx) can use it while it serves CoAP and HTTP on free ports."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from fleet.core.config import Settings
from fleet.serve import ServeHandle, serving

T = TypeVar("T")


class LoopThread:
    """An asyncio loop in a daemon thread; `call(coro)` runs a coroutine there and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="test-fleet-loop", daemon=True)
        self.thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@contextmanager
def running_fleet(settings: Settings) -> Iterator[tuple[ServeHandle, LoopThread]]:
    lt = LoopThread()
    cm = serving(settings)
    handle = lt.call(cm.__aenter__())
    try:
        yield handle, lt
    finally:
        lt.call(cm.__aexit__(None, None, None))
        lt.close()


def make_settings(db_url: str, **kw: Any) -> Settings:
    """Settings for a test fleet: free ports, short timers, no webhook unless given."""
    values: dict[str, Any] = dict(db=db_url, coap_port=0, http_port=0, poll_interval_s=3600, poll_timeout_s=2.0,
                                  ingest_batch_wait_ms=1.0, webhook_backoff_s=0.05)
    values.update(kw)
    return Settings(**values)

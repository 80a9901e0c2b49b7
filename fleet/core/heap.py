"""Keep the start-up heap out of the garbage collector's full collections.

Why: a fleet process holds a few hundred thousand objects from start-up (modules, the ORM's
mappers, the FastAPI app, aiocoap) that never become garbage, and every full (generation 2)
collection walks all of them again. Under a steady 1,000 messages a second the ingest path's
short-lived objects trigger one every several seconds: measured in the soak benchmark (120 s,
gc callbacks timing each collection), 14 full collections, 25-60 ms each under traffic (and
100-320 ms at start-up), which stalled the event loop: p99 35 -> 22 ms with the freeze; the
same scans cost a dashboard request 60-200 ms (the overview's p95 at a million devices, 194 ms
with them, 74 ms without, in-process).
`gc.freeze()` (Python 3.7+) moves everything alive now into a permanent generation that
collections skip; what is created later is collected as before."""

from __future__ import annotations

import asyncio
import gc
import logging

log = logging.getLogger(__name__)


def freeze_startup_heap() -> int:
    """Collect once, then freeze what is left; returns how many objects were frozen. Call when
    start-up is done (everything imported and built), before taking traffic."""
    gc.collect()
    gc.freeze()
    n = gc.get_freeze_count()
    log.debug("gc: %d start-up objects frozen", n)
    return n


def thaw_heap() -> None:
    """Undo `freeze_startup_heap` (at shutdown: an in-process fleet, as in tests, leaves nothing
    frozen behind for its host process)."""
    gc.unfreeze()


WARM_UP_S = 30.0


def freeze_after_warm_up(loop: "asyncio.AbstractEventLoop", delay_s: float = WARM_UP_S) -> "asyncio.TimerHandle":
    """Freeze again once the first traffic has built what lives as long as the process (the
    database layer's compiled statements, the first devices' cached addresses, lazily built
    validators): measured in the soak (gc callbacks), a full collection every ~9 s under
    1,000 messages a second still took 12-17 ms scanning those after the start-up freeze."""
    return loop.call_later(delay_s, freeze_startup_heap)

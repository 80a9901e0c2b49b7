"""Keep the township progress snapshot (fleet/campaign/snapshot.py) current: every CHECK_S,
recompute it when campaign data changed since it was computed (the change counter of
fleet/campaign/changes.py moved), when it is not for today (the date changed), or when there is
none yet (a new database, a fresh start after the upgrade).

The computation is one long read (seconds at a million sites): it runs in a worker thread
(`asyncio.to_thread`) so neither the event loop nor the database thread waits for it; storing
the result is a short write and goes through the fleet's database thread like every other write.
Writes that land while it computes move the counter again, and the next check picks them up, so
the snapshot trails the data by at most CHECK_S plus one computation."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fleet.campaign.snapshot import Computed
    from fleet.runtime import Fleet

log = logging.getLogger(__name__)

CHECK_S = 30.0


def _due(fleet: "Fleet") -> str | None:
    from fleet.campaign import snapshot

    with fleet.db.session() as session:
        return snapshot.due(session)


def _compute(fleet: "Fleet") -> "Computed":
    from fleet.campaign import snapshot

    with fleet.db.session() as session:
        return snapshot.compute(session)


def _store(fleet: "Fleet", c: "Computed") -> None:
    from fleet.campaign import snapshot

    with fleet.db.session() as session:
        snapshot.store(session, c)
        session.commit()


async def refresh_once(fleet: "Fleet", *, force: bool = False) -> "Computed | None":
    """Recompute and store the snapshot if it is due (or `force`); the computation, or None."""
    why = await asyncio.to_thread(_due, fleet)
    if why is None and not force:
        return None
    c = await asyncio.to_thread(_compute, fleet)
    await fleet.writer.run(_store, fleet, c)
    log.info("progress snapshot for %s: %d communities in %d ms (%s)", c.as_of, len(c.rows), c.ms, why or "forced")
    return c


async def run_progress_snapshot(fleet: "Fleet", every_s: float = CHECK_S) -> None:
    """Check at start, then every `every_s`."""
    while True:
        try:
            await refresh_once(fleet)
        except Exception as e:  # noqa: BLE001 - the next check tries again; the pages compute live meanwhile
            log.error("progress snapshot refresh failed: %r", e, exc_info=True)
        await asyncio.sleep(every_s)


def start(fleet: "Fleet") -> None:
    """Run run_progress_snapshot with the fleet's own background loops (Fleet.stop cancels it)."""
    fleet._tasks.append(asyncio.create_task(run_progress_snapshot(fleet), name="fleet-run_progress_snapshot"))  # noqa: SLF001

"""Raise the lifecycle work orders once a day (fleet.lifecycle.service.raise_work_orders):
calibration due, sensor / valve / hose end of life, device offline and device fault, each ahead
of its date by the plan's lead times.

The rules are idempotent (every order has a key), so a day's run adds only what fell due since
the last one, and `gasguard workorders raise` or `POST /api/v1/workorders/raise` may still be run
by hand at any time. The run is at RUN_AT (UTC), not at start-up: a fleet restarted ten times a
day, or started by a test, does not rescan every installed item each time; lead times are weeks,
so a day missed while the fleet was down costs nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING

from fleet.core.clock import now

if TYPE_CHECKING:
    from fleet.lifecycle.rules import Policy
    from fleet.runtime import Fleet

log = logging.getLogger(__name__)

RUN_AT = time(1, 0)  # UTC: 09:00 in China, the day's orders are there when the offices open
MAX_NAP_S = 3600.0  # sleep in naps of at most an hour, so a clock that jumps is noticed


def next_run(t: datetime, at: time = RUN_AT) -> datetime:
    """The first RUN_AT (UTC) strictly after `t`."""
    run = datetime.combine(t.astimezone(timezone.utc).date(), at, tzinfo=timezone.utc)
    return run if run > t else run + timedelta(days=1)


def raise_once(fleet: "Fleet", on: date, policy: "Policy | None" = None) -> int:
    """Raise what is due by `on` (the plan's lifecycle policy unless given); how many were raised."""
    from fleet.lifecycle.service import raise_work_orders

    if policy is None:
        from fleet.campaign.plan import load_plan

        policy = load_plan().lifecycle
    with fleet.db.session() as session:
        made = raise_work_orders(session, on=on, policy=policy)
        session.commit()
    return len(made)


async def run_work_orders(fleet: "Fleet", *, at: time = RUN_AT, policy: "Policy | None" = None,
                          clock: Callable[[], datetime] = now,
                          sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
    """Each day at `at` (UTC), raise the day's work orders in the database thread. `clock` and
    `sleep` are injectable so a test runs days without waiting."""
    while True:
        due = next_run(clock(), at)
        while (left := (due - clock()).total_seconds()) > 0:
            await sleep(min(left, MAX_NAP_S))
        try:
            n = await fleet.writer.run(raise_once, fleet, due.date(), policy)
            log.info("work orders for %s: %d raised", due.date(), n)
        except Exception as e:  # noqa: BLE001 - tomorrow is another run; say so loudly
            log.error("raising work orders for %s failed: %r", due.date(), e, exc_info=True)


def start(fleet: "Fleet") -> None:
    """Run run_work_orders with the fleet's own background loops (Fleet.stop cancels it)."""
    fleet._tasks.append(asyncio.create_task(run_work_orders(fleet), name="fleet-run_work_orders"))  # noqa: SLF001

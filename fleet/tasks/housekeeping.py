"""Periodic store chores: escalate unacknowledged alarms, expire commands, write the ingest
error counters. Cheap queries on indexed columns, every few seconds."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from fleet.services import alarms, commands

if TYPE_CHECKING:
    from fleet.runtime import Fleet

log = logging.getLogger(__name__)


def _escalate_and_expire(fleet: "Fleet") -> tuple[int, int]:
    s = fleet.settings
    with fleet.db.session() as session:
        escalated = alarms.escalate_due(session, after_s=s.escalate_after_s, repeat_s=s.escalation_repeat_s)
        expired = commands.expire_due(session)
        session.commit()
    return len(escalated), expired


async def housekeeping_once(fleet: "Fleet") -> tuple[int, int]:
    """Escalate and expire once; returns (alarms escalated, commands expired)."""
    escalated, expired = await fleet.writer.run(_escalate_and_expire, fleet)
    await fleet.writer.run(fleet.counter.flush, fleet.db.sessions)
    if escalated:
        fleet.notify_kick.set()
    return escalated, expired


async def run_housekeeping(fleet: "Fleet", every_s: float = 5.0) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await housekeeping_once(fleet)
        except Exception as e:  # noqa: BLE001
            log.error("housekeeping failed: %r", e, exc_info=True)

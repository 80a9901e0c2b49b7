"""Ask silent devices how they are before calling them offline.

A device is silent when nothing has arrived for longer than its model's heartbeat interval plus
grace. The poller sends it GET /health (at the address its last datagram came from). An answer
is ingested like a heartbeat (so it is online again, with fresh health); no answer, or no address
to ask, and it is marked offline, which goes into its timeline and the audit log."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from fleet.core.clock import now
from fleet.core.errors import FleetError
from fleet.ingest.core import Item
from fleet.services import health
from fleet.store.models import Device

if TYPE_CHECKING:
    from fleet.runtime import Fleet

log = logging.getLogger(__name__)


def _silent(fleet: "Fleet") -> list[tuple[str, str | None]]:
    s = fleet.settings
    with fleet.db.session() as session:
        rows = health.silent_devices(session, at=now(), default_interval_s=s.heartbeat_interval_s,
                                     default_grace_s=s.offline_grace_s)
        return [(d.device_id, d.address) for d in rows]


def _mark_offline(fleet: "Fleet", device_id: str, reason: str) -> None:
    from sqlalchemy import select

    with fleet.db.session() as session:
        device = session.scalars(select(Device).where(Device.device_id == device_id)).first()
        if device is None:
            return
        t = now()
        device.last_poll_at = t
        # Re-check under this transaction: a report may have arrived while we were polling.
        limit = health.silence_limit_s(device, default_interval_s=fleet.settings.heartbeat_interval_s,
                                       default_grace_s=fleet.settings.offline_grace_s)
        if device.last_report_at is not None and (t - device.last_report_at).total_seconds() < limit:
            session.commit()
            return
        health.mark_offline(session, device, t, reason)
        session.commit()


async def _poll_one(fleet: "Fleet", device_id: str, address: str | None) -> str:
    if not address or fleet.device_client is None:
        reason = "silent; no address to poll" if not address else "silent; CoAP side not running"
        await fleet.writer.run(_mark_offline, fleet, device_id, reason)
        return "offline"
    try:
        body = await fleet.device_client.get_health(address)
    except FleetError as e:
        await fleet.writer.run(_mark_offline, fleet, device_id, f"silent; poll failed: {e}")
        return "offline"
    if body.get("dev") != device_id:
        log.warning("poll of %s at %s answered as %r", device_id, address, body.get("dev"))
        await fleet.writer.run(_mark_offline, fleet, device_id, f"silent; {address} answered as {body.get('dev')!r}")
        return "offline"
    result = await fleet.writer.submit(Item(kind="heartbeat", body=body, at=now(), remote=address))
    if result.error is not None:
        await fleet.writer.run(_mark_offline, fleet, device_id, f"silent; poll answer refused: {result.error}")
        return "offline"
    log.info("silent device %s answered a health poll", device_id)
    return "answered"


async def poll_once(fleet: "Fleet", *, concurrency: int = 32) -> dict[str, str]:
    """One pass: poll every silent device (at most `concurrency` at a time); returns
    device_id -> "answered" | "offline"."""
    silent = await fleet.writer.run(_silent, fleet)
    sem = asyncio.Semaphore(concurrency)

    async def guarded(dev: str, addr: str | None) -> tuple[str, str]:
        async with sem:
            try:
                return dev, await _poll_one(fleet, dev, addr)
            except Exception as e:  # noqa: BLE001 - one device must not stop the pass
                log.error("polling %s failed: %r", dev, e, exc_info=True)
                return dev, "error"

    results = await asyncio.gather(*(guarded(d, a) for d, a in silent))
    return dict(results)


async def run_poller(fleet: "Fleet") -> None:
    while True:
        await asyncio.sleep(fleet.settings.poll_interval_s)
        try:
            await poll_once(fleet)
        except Exception as e:  # noqa: BLE001
            log.error("poller pass failed: %r", e, exc_info=True)



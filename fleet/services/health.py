"""Device health: the three times (last report, last online, last offline) and the online flag.

A device is online from the moment anything arrives from it. The poller (fleet/tasks/poller.py)
picks devices silent for longer than their model's heartbeat interval plus grace, asks them for
`/health` over CoAP, and only when that fails calls `mark_offline`. Going offline and coming back
are written as fleet-origin events in the device's timeline, and to the audit log."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from fleet.services import audit
from fleet.store.models import Device, Event

log = logging.getLogger(__name__)


def fleet_event(session: Session, device: Device, kind: str, at: datetime, payload: dict[str, Any] | None = None) -> None:
    session.add(Event(device_id=device.device_id, seq=None, kind=kind, origin="fleet", payload=payload or {},
                      received_at=at))


def mark_report(session: Session, device: Device, at: datetime, address: str | None = None) -> None:
    """Anything arrived from the device: it is online, and this is its latest report."""
    device.last_report_at = at
    if address:
        device.address = address
    if not device.online:
        device.online = True
        device.last_online_at = at
        if device.last_offline_at is not None:
            fleet_event(session, device, "online", at, {"offline_since": device.last_offline_at.isoformat()})
            audit.record(session, actor="fleet", action="device.online", entity="device",
                         entity_id=device.device_id, at=at)
            log.info("device %s back online (offline since %s)", device.device_id, device.last_offline_at)


def mark_offline(session: Session, device: Device, at: datetime, reason: str) -> None:
    """The device stayed silent past its grace and did not answer a poll."""
    if not device.online:
        return
    device.online = False
    device.last_offline_at = at
    last = device.last_report_at.isoformat() if device.last_report_at else None
    fleet_event(session, device, "offline", at, {"reason": reason, "last_report_at": last})
    audit.record(session, actor="fleet", action="device.offline", entity="device", entity_id=device.device_id,
                 detail={"reason": reason}, at=at)
    log.info("device %s offline: %s (last report %s)", device.device_id, reason, last)


def silence_limit_s(device: Device, *, default_interval_s: int, default_grace_s: int) -> int:
    """Seconds of silence after which the device is due for a poll: interval + grace, from its
    model in the catalogue, else the fleet's defaults."""
    pm = device.product_model
    interval = (pm.heartbeat_interval_s if pm and pm.heartbeat_interval_s else None) or default_interval_s
    grace = (pm.offline_grace_s if pm and pm.offline_grace_s else None) or default_grace_s
    return int(interval + grace)


def silent_devices(
    session: Session, *, at: datetime, default_interval_s: int, default_grace_s: int, limit: int = 1000
) -> list[Device]:
    """Online devices silent past their own limit, oldest report first.

    The SQL pre-filter uses the shortest possible limit (a model may be stricter than the default
    and the per-device rule is applied after), so it stays one indexed range scan."""
    from fleet.store.models import ProductModel

    limits = [default_interval_s + default_grace_s]
    for interval, grace in session.execute(
        select(ProductModel.heartbeat_interval_s, ProductModel.offline_grace_s)
    ):  # the catalogue is small (hundreds of models at most)
        limits.append((interval or default_interval_s) + (grace or default_grace_s))
    floor_s = min(limits)
    cutoff = at - timedelta(seconds=floor_s)
    rows = session.scalars(
        select(Device)
        .where(Device.online.is_(True), or_(Device.last_report_at <= cutoff, Device.last_report_at.is_(None)))
        .order_by(Device.last_report_at)
        .limit(limit)
    ).all()
    out = []
    for d in rows:
        limit_s = silence_limit_s(d, default_interval_s=default_interval_s, default_grace_s=default_grace_s)
        if d.last_report_at is None or (at - d.last_report_at).total_seconds() >= limit_s:
            out.append(d)
    return out

"""Devices as the API and dashboard see them: lookup, pre-registration, linking, timelines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.core.clock import now
from fleet.core.errors import Conflict, NotFound
from fleet.services import catalogue, queries
from fleet.store.models import Asset, Device, Event, Reading, SequenceGap


def get(session: Session, device_id: str) -> Device:
    d = session.scalars(select(Device).where(Device.device_id == device_id)).first()
    if d is None:
        raise NotFound(f"device {device_id!r} not found", reason="device_not_found")
    return d


def _link(session: Session, device: Device, data: dict[str, Any]) -> None:
    if data.get("model_code") is not None:
        device.product_model = catalogue.model_by_code(session, data["model_code"])
        device.model_code = data["model_code"]
    if data.get("site_account_no") is not None:
        device.site = catalogue.site_by_account(session, data["site_account_no"])
        device.site_code = data["site_account_no"]
    if data.get("asset_id") is not None:
        if session.get(Asset, data["asset_id"]) is None:
            raise NotFound(f"asset {data['asset_id']} not found", reason="asset_not_found")
        device.asset_id = data["asset_id"]


def create(session: Session, *, data: dict[str, Any]) -> Device:
    if session.scalars(select(Device.id).where(Device.device_id == data["device_id"])).first() is not None:
        raise Conflict(f"device {data['device_id']!r} already registered", reason="device_exists")
    device = Device(device_id=data["device_id"], last_seq=0, online=False, created_at=now())
    session.add(device)
    _link(session, device, data)
    session.flush()
    return device


def update(session: Session, *, device_id: str, data: dict[str, Any]) -> Device:
    device = get(session, device_id)
    _link(session, device, data)
    return device


def list_devices(session: Session, *, online: bool | None, site_id: int | None, model_code: str | None,
                 q: str | None, offset: int, limit: int) -> tuple[list[Device], int]:
    stmt = select(Device)
    if online is not None:
        stmt = stmt.where(Device.online.is_(online))
    if site_id is not None:
        stmt = stmt.where(Device.site_id == site_id)
    if model_code:
        stmt = stmt.where(Device.model_code == model_code)
    if q:
        stmt = stmt.where(Device.device_id.like(f"%{q}%"))
    return queries.page(session, stmt, offset=offset, limit=limit, order=Device.device_id)


def list_events(session: Session, *, device_id: str | None, kind: str | None, origin: str | None,
                since: datetime | None, until: datetime | None, offset: int, limit: int) -> tuple[list[Event], int]:
    stmt = select(Event)
    if device_id:
        stmt = stmt.where(Event.device_id == device_id)
    if kind:
        stmt = stmt.where(Event.kind == kind)
    if origin:
        stmt = stmt.where(Event.origin == origin)
    if since:
        stmt = stmt.where(Event.received_at >= since)
    if until:
        stmt = stmt.where(Event.received_at < until)
    return queries.page(session, stmt, offset=offset, limit=limit, order=Event.id.desc())


def readings(session: Session, *, device_id: str, since: datetime | None, until: datetime | None,
             limit: int) -> list[Reading]:
    """The newest `limit` readings in the window, returned oldest first (for a chart)."""
    stmt = select(Reading).where(Reading.device_id == device_id)
    if since:
        stmt = stmt.where(Reading.at >= since)
    if until:
        stmt = stmt.where(Reading.at < until)
    rows = list(session.scalars(stmt.order_by(Reading.at.desc(), Reading.id.desc()).limit(limit)))
    rows.reverse()
    return rows


def gaps(session: Session, *, device_id: str, open_only: bool) -> list[SequenceGap]:
    stmt = select(SequenceGap).where(SequenceGap.device_id == device_id)
    if open_only:
        stmt = stmt.where(SequenceGap.closed_at.is_(None))
    return list(session.scalars(stmt.order_by(SequenceGap.first_missing)))

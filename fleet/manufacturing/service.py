"""Manufacturing records: take one from the flashing tool, list them. No HTTP here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleet.core.clock import now
from fleet.core.errors import BadInput
from fleet.manufacturing.models import ManufacturingRecord
from fleet.services import audit

DEVICE_ID_PREFIX = "gg-"  # boards/flash.py and the firmware: the device id is gg-<chip id hex>
# what a new flash of a known chip replaces (the chip id, and so the device id, never change)
FLASH_FIELDS = ("model", "board", "chip", "chip_description", "mac", "flash_size", "app_version",
                "image_sha256", "flashed_at")


def record(session: Session, *, data: dict[str, Any], by: str) -> tuple[ManufacturingRecord, bool]:
    """Store one flashed board; (row, created). The same record again changes nothing; a later
    flash of the same chip updates the row and counts it; an older one is ignored."""
    chip_id = data["chip_id"]
    device_id = DEVICE_ID_PREFIX + chip_id
    if data.get("device_id") not in (None, device_id):
        raise BadInput(f"device_id {data['device_id']!r} does not match chip id {chip_id!r}: expected {device_id!r}",
                       field="device_id")
    row = session.scalars(select(ManufacturingRecord).where(ManufacturingRecord.chip_id == chip_id)).one_or_none()
    flashed_at: datetime = data["flashed_at"]
    at = now()
    if row is None:
        row = ManufacturingRecord(chip_id=chip_id, device_id=device_id, flashes=1, first_recorded_at=at,
                                  recorded_at=at, recorded_by=by, **{f: data.get(f) for f in FLASH_FIELDS})
        session.add(row)
        session.flush()
        _audit(session, row, by, "manufacturing_record")
        return row, True
    if flashed_at <= row.flashed_at:
        return row, False  # sent again (a resend), or an older flash arriving late
    for f in FLASH_FIELDS:
        setattr(row, f, data.get(f))
    row.flashes += 1
    row.recorded_at = at
    row.recorded_by = by
    session.flush()
    _audit(session, row, by, "manufacturing_reflash")
    return row, False


def _audit(session: Session, row: ManufacturingRecord, by: str, action: str) -> None:
    audit.record(session, actor=by, action=action, entity="manufacturing", entity_id=row.chip_id,
                 detail={"device_id": row.device_id, "model": row.model, "app_version": row.app_version,
                         "flashes": row.flashes})


def list_records(session: Session, *, model: str | None = None, offset: int = 0,
                 limit: int = 50) -> tuple[list[ManufacturingRecord], int]:
    """Newest first; `model` filters by the device model."""
    q = select(ManufacturingRecord)
    if model:
        q = q.where(ManufacturingRecord.model == model)
    count = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(ManufacturingRecord.recorded_at.desc(), ManufacturingRecord.id.desc())
                           .offset(offset).limit(limit))
    return list(rows), count

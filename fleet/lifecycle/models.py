"""Lifecycle tables (Alembic revision `0002_lifecycle_campaign`): work orders and calibration records.

A work order is a general record, as DESIGN.md asks: it names a site and optionally an asset or a
device, and its `kind` says why it exists (calibration due, end of life, offline, fault; later a
pipeline hazard or a cylinder recall). `key` makes raising idempotent: the same reason for the
same item and due date is one work order, however often the rules run."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fleet.core.clock import now
from fleet.store.base import Base
from fleet.store.types import JSONType, UTCDateTime


class WorkOrderState(str, enum.Enum):
    open = "open"
    assigned = "assigned"
    done = "done"
    closed = "closed"
    cancelled = "cancelled"


class CalibrationResult(str, enum.Enum):
    passed = "pass"
    failed = "fail"


class WorkOrder(Base):
    """Work to do at a site: raised by the rules (or by hand), assigned, done, closed."""

    __tablename__ = "work_orders"
    # (kind, state, due_on, id): the list by kind, soonest due first (migration 0009)
    __table_args__ = (Index(None, "state", "due_on"), Index(None, "kind", "state", "due_on", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    state: Mapped[str] = mapped_column(String(16), default=WorkOrderState.open.value)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"), index=True)
    device_id: Mapped[str | None] = mapped_column(String(32), index=True)
    due_on: Mapped[date | None] = mapped_column(Date)
    payer: Mapped[str] = mapped_column(String(16), default="operator")
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    assignee: Mapped[str | None] = mapped_column(String(128))
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by: Mapped[str | None] = mapped_column(String(128))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class CalibrationRecord(Base):
    """One calibration (检定) of one detector: who, when, result, certificate. A pass resets the
    calibration clock; a fail leaves it running (the detector must be repaired or replaced)."""

    __tablename__ = "calibration_records"
    __table_args__ = (Index(None, "asset_id", "calibrated_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"))
    calibrated_on: Mapped[date] = mapped_column(Date)
    calibrated_by: Mapped[str] = mapped_column(String(128))
    result: Mapped[str] = mapped_column(String(8))
    certificate_no: Mapped[str | None] = mapped_column(String(64))
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

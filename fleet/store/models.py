"""The fleet's core tables (Alembic revision `0001_core`).

Kept general, as DESIGN.md asks: a *site* is any gas user, an *asset* is anything installed there
(an alarm, a valve, a hose; later a pipeline segment or a cylinder), and a *device* is the
connected part of an asset that speaks the protocol. Lifecycle and campaign records (installs,
inspections, work orders, calibration, the plan) live in their own packages and migration.

Devices are referred to by their protocol id (`device_id`, text such as `gg-a4cf12b3c4d5`) in
every child table, so events, alarms and commands read the same in the database, the API and the
wire."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fleet.core.clock import now
from fleet.store.base import Base
from fleet.store.types import JSONType, UTCDateTime


class ProductKind(str, enum.Enum):
    alarm = "alarm"
    shutoff = "shutoff"
    alarm_shutoff = "alarm_shutoff"
    self_closing_valve = "self_closing_valve"
    hose = "hose"
    meter = "meter"


class SiteCategory(str, enum.Enum):
    residential = "residential"
    non_residential = "non_residential"


class Supply(str, enum.Enum):
    pipeline = "pipeline"
    lpg = "lpg"


class AssetStatus(str, enum.Enum):
    in_stock = "in_stock"
    in_service = "in_service"
    replaced = "replaced"
    removed = "removed"


class AlarmState(str, enum.Enum):
    open = "open"
    acknowledged = "acknowledged"
    resolved = "resolved"


class CommandState(str, enum.Enum):
    pending = "pending"
    sent = "sent"
    confirmed = "confirmed"
    failed = "failed"
    expired = "expired"


class CommandOp(str, enum.Enum):
    close_valve = "close_valve"
    selftest = "selftest"
    reboot = "reboot"


def _enum_values(e: type[enum.Enum]) -> str:
    return ", ".join(repr(m.value) for m in e)


class ProductModel(Base):
    """A catalogue entry: one model of alarm, valve, hose or meter, as its maker sells it.

    `code` is what a device sends as `model` when it registers."""

    __tablename__ = "product_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    maker: Mapped[str] = mapped_column(String(128))
    model: Mapped[str] = mapped_column(String(128))
    gas: Mapped[str | None] = mapped_column(String(32))
    sensor: Mapped[str | None] = mapped_column(String(64))
    calibration_interval_days: Mapped[int | None] = mapped_column(Integer)
    sensor_life_days: Mapped[int | None] = mapped_column(Integer)
    service_life_days: Mapped[int | None] = mapped_column(Integer)
    heartbeat_interval_s: Mapped[int | None] = mapped_column(Integer)
    offline_grace_s: Mapped[int | None] = mapped_column(Integer)
    approved: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Site(Base):
    """A gas user (燃气用户): a household or a business, identified by its account number."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_no: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    category: Mapped[str] = mapped_column(String(32), index=True)
    supply: Mapped[str] = mapped_column(String(16))
    township: Mapped[str | None] = mapped_column(String(128), index=True)
    community: Mapped[str | None] = mapped_column(String(128))
    address: Mapped[str | None] = mapped_column(String(512))
    contact: Mapped[str | None] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(String(64))
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, onupdate=now)


class Asset(Base):
    """Something installed at a site (or in stock): an alarm, a valve, a hose, a meter.

    `replaced_by_id` links an asset to the one that took its place, so history is never lost."""

    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    product_model_id: Mapped[int | None] = mapped_column(ForeignKey("product_models.id"), index=True)
    serial: Mapped[str | None] = mapped_column(String(128), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    installed_on: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=AssetStatus.in_service.value, index=True)
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"))
    location: Mapped[str | None] = mapped_column(String(256))
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    product_model: Mapped[ProductModel | None] = relationship(lazy="joined")


class Device(Base):
    """A connected device: its identity, what it last told us, and its health clock.

    `last_seq` is the highest event sequence number stored; `health` is the latest heartbeat as
    the flat dict of `protocol.messages`. `address` is where its last datagram came from, the
    place the poller and direct commands go."""

    __tablename__ = "devices"
    # The dashboard overview's lists (migration 0007): online by device id, offline by when.
    __table_args__ = (Index(None, "online", "device_id"), Index(None, "online", "last_offline_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(32), unique=True)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"), index=True)
    product_model_id: Mapped[int | None] = mapped_column(ForeignKey("product_models.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    model_code: Mapped[str | None] = mapped_column(String(64))
    site_code: Mapped[str | None] = mapped_column(String(64))
    uid: Mapped[str | None] = mapped_column(String(64))
    board: Mapped[str | None] = mapped_column(String(64))
    fw: Mapped[str | None] = mapped_column(String(64))
    gas: Mapped[str | None] = mapped_column(String(16))
    boot: Mapped[int | None] = mapped_column(Integer)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    address: Mapped[str | None] = mapped_column(String(128))
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_report_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_online_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_offline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    online: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    health: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)

    product_model: Mapped[ProductModel | None] = relationship(lazy="joined")
    site: Mapped[Site | None] = relationship(lazy="joined")


class Event(Base):
    """One event in a device's timeline, stored once per (device, sequence number).

    `origin` is `device` for what the device sent (with its `seq`) and `fleet` for what the fleet
    observed about it (went offline, back online, polled), which has no sequence number."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("device_id", "seq"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"))
    seq: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    origin: Mapped[str] = mapped_column(String(8), default="device")
    uptime_s: Mapped[int | None] = mapped_column(BigInteger)
    device_time: Mapped[datetime | None] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)


class SequenceGap(Base):
    """Sequence numbers a device skipped: [first_missing, last_missing], and how many came late."""

    __tablename__ = "sequence_gaps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"), index=True)
    first_missing: Mapped[int] = mapped_column(BigInteger)
    last_missing: Mapped[int] = mapped_column(BigInteger)
    recovered: Mapped[int] = mapped_column(Integer, default=0)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def size(self) -> int:
        return self.last_missing - self.first_missing + 1


class Alarm(Base):
    """One gas-alarm incident on one device, from the first alarm event until it is resolved.

    Further alarm events while it is open (a level change, a retransmission under a new
    sequence number) update this record instead of opening another."""

    __tablename__ = "alarms"
    __table_args__ = (Index(None, "state", "opened_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default=AlarmState.open.value)
    level: Mapped[int] = mapped_column(Integer, default=1)
    peak_lel: Mapped[float | None] = mapped_column(Float)
    opened_seq: Mapped[int | None] = mapped_column(BigInteger)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    valve_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)


class AuditLog(Base):
    """Append-only history: who did what to which record, and when. Never updated or deleted."""

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class Command(Base):
    """A command for a device: pending -> sent -> confirmed | failed, or expired.

    `id` is the command id on the wire. `request_key` makes creation idempotent: asking twice
    with the same key returns the first command."""

    __tablename__ = "commands"
    __table_args__ = (Index(None, "device_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"))
    op: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default=CommandState.pending.value)
    request_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    created_by: Mapped[str] = mapped_column(String(128), default="system")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_via: Mapped[str | None] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class Reading(Base):
    """The time series of a device's heartbeats: the numbers worth charting."""

    __tablename__ = "readings"
    __table_args__ = (Index(None, "device_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    lel: Mapped[float | None] = mapped_column(Float)
    alarm: Mapped[int | None] = mapped_column(Integer)
    valve: Mapped[int | None] = mapped_column(Integer)
    faults: Mapped[int | None] = mapped_column(Integer)
    rssi: Mapped[float | None] = mapped_column(Float)
    heap_free: Mapped[int | None] = mapped_column(Integer)
    battery_pct: Mapped[float | None] = mapped_column(Float)
    uptime_s: Mapped[int | None] = mapped_column(BigInteger)


class IngestError(Base):
    """Counters of refused input, one row per (resource, reason), so bad input is visible."""

    __tablename__ = "ingest_errors"
    __table_args__ = (UniqueConstraint("resource", "reason"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    last_detail: Mapped[str | None] = mapped_column(Text)
    last_remote: Mapped[str | None] = mapped_column(String(128))


class Notification(Base):
    """A webhook delivery owed to the gas company's dispatch (durable outbox with retries)."""

    __tablename__ = "notifications"
    __table_args__ = (Index(None, "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic: Mapped[str] = mapped_column(String(64))
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarms.id"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

"""Pydantic schemas of the API, a family per entity (Base, Create, Update, Public, plural
{data, count}), read from the SQLAlchemy rows with `from_attributes`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

DEVICE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,31}$"


class ListOf(BaseModel, Generic[T]):
    data: list[T]
    count: int


class Orm(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# -- product models ------------------------------------------------------------------------

ProductKindT = Literal["alarm", "shutoff", "alarm_shutoff", "self_closing_valve", "hose", "meter"]


class ProductModelBase(BaseModel):
    code: str = Field(min_length=1, max_length=64, description="what a device sends as `model`")
    kind: ProductKindT
    maker: str = Field(min_length=1, max_length=128)
    model: str = Field(min_length=1, max_length=128)
    gas: str | None = Field(default=None, max_length=32)
    sensor: str | None = Field(default=None, max_length=64)
    calibration_interval_days: int | None = Field(default=None, gt=0)
    sensor_life_days: int | None = Field(default=None, gt=0)
    service_life_days: int | None = Field(default=None, gt=0)
    heartbeat_interval_s: int | None = Field(default=None, gt=0)
    offline_grace_s: int | None = Field(default=None, gt=0)
    approved: bool = False
    notes: str | None = None


class ProductModelCreate(ProductModelBase):
    pass


class ProductModelUpdate(BaseModel):
    maker: str | None = Field(default=None, min_length=1, max_length=128)
    model: str | None = Field(default=None, min_length=1, max_length=128)
    gas: str | None = None
    sensor: str | None = None
    calibration_interval_days: int | None = Field(default=None, gt=0)
    sensor_life_days: int | None = Field(default=None, gt=0)
    service_life_days: int | None = Field(default=None, gt=0)
    heartbeat_interval_s: int | None = Field(default=None, gt=0)
    offline_grace_s: int | None = Field(default=None, gt=0)
    approved: bool | None = None
    notes: str | None = None


class ProductModelPublic(ProductModelBase, Orm):
    id: int
    created_at: datetime


# -- sites ---------------------------------------------------------------------------------


class SiteBase(BaseModel):
    account_no: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=256)
    category: Literal["residential", "non_residential"]
    supply: Literal["pipeline", "lpg"]
    township: str | None = Field(default=None, max_length=128)
    community: str | None = Field(default=None, max_length=128)
    address: str | None = Field(default=None, max_length=512)
    contact: str | None = Field(default=None, max_length=128)
    phone: str | None = Field(default=None, max_length=64)


class SiteCreate(SiteBase):
    pass


class SiteUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=256)
    category: Literal["residential", "non_residential"] | None = None
    supply: Literal["pipeline", "lpg"] | None = None
    township: str | None = None
    community: str | None = None
    address: str | None = None
    contact: str | None = None
    phone: str | None = None


class SitePublic(SiteBase, Orm):
    id: int
    created_at: datetime


# -- devices -------------------------------------------------------------------------------


class DeviceBase(BaseModel):
    device_id: str = Field(pattern=DEVICE_ID_PATTERN, description="gg-<chip uid hex>")


class DeviceCreate(DeviceBase):
    """Pre-register a device (before it first reports), optionally linking model and site."""

    model_code: str | None = None
    site_account_no: str | None = None
    asset_id: int | None = None


class DeviceUpdate(BaseModel):
    model_code: str | None = None
    site_account_no: str | None = None
    asset_id: int | None = None


class DevicePublic(DeviceBase, Orm):
    id: int
    asset_id: int | None
    product_model_id: int | None
    site_id: int | None
    model_code: str | None
    site_code: str | None
    uid: str | None
    board: str | None
    fw: str | None
    gas: str | None
    last_seq: int
    address: str | None
    registered_at: datetime | None
    last_report_at: datetime | None
    last_online_at: datetime | None
    last_offline_at: datetime | None
    last_poll_at: datetime | None
    online: bool
    health: dict[str, Any] | None


# -- events, gaps, readings ----------------------------------------------------------------


class EventPublic(Orm):
    id: int
    device_id: str
    seq: int | None
    kind: str
    origin: str
    uptime_s: int | None
    device_time: datetime | None
    payload: dict[str, Any]
    received_at: datetime


class GapPublic(Orm):
    id: int
    device_id: str
    first_missing: int
    last_missing: int
    recovered: int
    detected_at: datetime
    closed_at: datetime | None


class ReadingPublic(Orm):
    at: datetime
    lel: float | None
    alarm: int | None
    valve: int | None
    faults: int | None
    rssi: float | None
    heap_free: int | None
    battery_pct: float | None
    uptime_s: int | None


# -- alarms --------------------------------------------------------------------------------

AlarmStateT = Literal["open", "acknowledged", "resolved"]


class AlarmPublic(Orm):
    id: int
    device_id: str
    site_id: int | None
    state: AlarmStateT
    level: int
    peak_lel: float | None
    opened_seq: int | None
    opened_at: datetime
    valve_closed_at: datetime | None
    cleared_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    escalation_level: int
    escalated_at: datetime | None
    note: str | None


class AlarmAction(BaseModel):
    by: str = Field(min_length=1, max_length=128, description="who is acting")
    note: str | None = Field(default=None, max_length=2000)


class AuditPublic(Orm):
    id: int
    at: datetime
    actor: str
    action: str
    entity: str
    entity_id: str
    detail: dict[str, Any] | None


# -- commands ------------------------------------------------------------------------------

CommandOpT = Literal["close_valve", "selftest", "reboot"]


class CommandCreate(BaseModel):
    device_id: str = Field(pattern=DEVICE_ID_PATTERN)
    op: CommandOpT
    by: str = Field(min_length=1, max_length=128)
    request_key: str | None = Field(default=None, min_length=1, max_length=128,
                                    description="same key again returns the first command (idempotent)")
    ttl_s: int | None = Field(default=None, gt=0, le=30 * 86400)
    deliver_now: bool = Field(default=False, description="also POST it to the device at once")


class CommandPublic(Orm):
    id: int
    device_id: str
    op: str
    state: Literal["pending", "sent", "confirmed", "failed", "expired"]
    request_key: str | None
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    sent_at: datetime | None
    sent_via: str | None
    attempts: int
    finished_at: datetime | None
    result: dict[str, Any] | None


class CommandCreated(CommandPublic):
    created: bool
    delivery_error: str | None = None


class CancelBody(BaseModel):
    by: str = Field(min_length=1, max_length=128)


# -- health --------------------------------------------------------------------------------


class IngestErrorPublic(Orm):
    resource: str
    reason: str
    count: int
    first_at: datetime
    last_at: datetime
    last_detail: str | None
    last_remote: str | None


class ServiceHealth(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    time: datetime
    coap_port: int | None
    devices: dict[str, int]
    alarms_active: int
    ingest: dict[str, Any]
    ingest_errors: dict[str, int]




# The plural {data, count} of each entity, named as the template names them.
DevicesPublic = ListOf[DevicePublic]
ProductModelsPublic = ListOf[ProductModelPublic]
SitesPublic = ListOf[SitePublic]
EventsPublic = ListOf[EventPublic]
AlarmsPublic = ListOf[AlarmPublic]
CommandsPublic = ListOf[CommandPublic]
AuditsPublic = ListOf[AuditPublic]

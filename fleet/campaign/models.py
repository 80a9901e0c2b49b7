"""Campaign tables (Alembic revision `0002_lifecycle_campaign`): installs, inspections, findings,
supply stops; and (revision `0008_progress_snapshot`) the township progress snapshot with the
change counter that says when it is out of date (fleet/campaign/snapshot.py).

Inspections and findings are general records (DESIGN.md "Where this is going"): today they are
the township self-check and the city spot-check of installs; later a home inspection of a
bottled-gas user or a pipeline-segment survey is another `kind` of the same rows. A finding is a
hazard registered, rectified and closed (销号) in one loop."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from fleet.core.clock import now
from fleet.store.base import Base
from fleet.store.types import JSONType, UTCDateTime


class InspectionKind(str, enum.Enum):
    self_check = "self_check"  # 乡镇自查
    spot_check = "spot_check"  # 市级抽查


class InspectionResult(str, enum.Enum):
    passed = "pass"
    failed = "fail"


class FindingState(str, enum.Enum):
    open = "open"
    rectified = "rectified"
    closed = "closed"


class Install(Base):
    """One visit that installed items at a site: who, when, and what it cost whom (fen)."""

    __tablename__ = "installs"
    __table_args__ = (Index(None, "site_id", "installed_on"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    installed_on: Mapped[date] = mapped_column(Date, index=True)
    installer: Mapped[str] = mapped_column(String(128))
    company: Mapped[str | None] = mapped_column(String(128))
    total_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    city_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    gas_company_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    user_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class InstallItem(Base):
    """An asset put in by an install (the asset row holds kind, model, serial, install date)."""

    __tablename__ = "install_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    install_id: Mapped[int] = mapped_column(ForeignKey("installs.id"), index=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id"), unique=True)
    price_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class Inspection(Base):
    """A check of a site by someone, on a day, with a result; `sample` ties a spot-check to the
    draw it came from (seed), so the city can show the sample was not hand-picked."""

    __tablename__ = "inspections"
    __table_args__ = (Index(None, "kind", "site_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    inspected_on: Mapped[date] = mapped_column(Date)
    inspector: Mapped[str] = mapped_column(String(128))
    result: Mapped[str] = mapped_column(String(8))
    sample: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)


class Finding(Base):
    """A hazard or defect found at a site, which must be rectified and then closed (销号)."""

    __tablename__ = "findings"
    __table_args__ = (Index(None, "state", "site_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    inspection_id: Mapped[int | None] = mapped_column(ForeignKey("inspections.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id"))
    description: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=FindingState.open.value)
    found_on: Mapped[date] = mapped_column(Date)
    rectify_by: Mapped[date | None] = mapped_column(Date)
    rectified_on: Mapped[date | None] = mapped_column(Date)
    rectified_by: Mapped[str | None] = mapped_column(String(128))
    closed_on: Mapped[date | None] = mapped_column(Date)
    closed_by: Mapped[str | None] = mapped_column(String(128))


class SupplyStop(Base):
    """Gas supply stopped at a non-compliant non-residential user, and its restoration: once the
    hazard is removed the supply must be back within the plan's restore time (24 h)."""

    __tablename__ = "supply_stops"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    stopped_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stopped_by: Mapped[str] = mapped_column(String(128))
    hazard_removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    restore_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    restored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    restored_by: Mapped[str | None] = mapped_column(String(128))


class ProgressState(Base):
    """One row (id 1): the campaign's change counter and what the progress snapshot reflects.

    `changes` goes up by one in every transaction that writes a table `service.progress()` reads
    (fleet/campaign/snapshot.py bumps it, in that same transaction, so a reader that sees the
    new value also sees the new rows). The snapshot is current when `snapshot_changes` equals
    `changes` and `snapshot_as_of` is today."""

    __tablename__ = "campaign_progress_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    changes: Mapped[int] = mapped_column(BigInteger, default=0)
    snapshot_as_of: Mapped[date | None] = mapped_column(Date)
    snapshot_changes: Mapped[int | None] = mapped_column(BigInteger)
    computed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    refresh_ms: Mapped[int | None] = mapped_column(Integer)


class ProgressArea(Base):
    """One community's progress counters (service.AreaProgress without the stages, which are
    derived from these and the plan when served), as of `ProgressState.snapshot_as_of`; a
    township's are the sum of its communities'. NULL township or community is stored as "", as
    the live query shows it. `position` keeps the order the live query returned (its SQL
    collation, not Python's)."""

    __tablename__ = "campaign_progress_areas"

    township: Mapped[str] = mapped_column(String(128), primary_key=True)
    community: Mapped[str] = mapped_column(String(128), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    sites: Mapped[int] = mapped_column(Integer, default=0)
    residential: Mapped[int] = mapped_column(Integer, default=0)
    non_residential: Mapped[int] = mapped_column(Integer, default=0)
    residential_ok: Mapped[int] = mapped_column(Integer, default=0)
    non_residential_ok: Mapped[int] = mapped_column(Integer, default=0)
    non_residential_accepted: Mapped[int] = mapped_column(Integer, default=0)
    installed_sites: Mapped[int] = mapped_column(Integer, default=0)
    self_checked: Mapped[int] = mapped_column(Integer, default=0)
    self_passed: Mapped[int] = mapped_column(Integer, default=0)
    spot_checked: Mapped[int] = mapped_column(Integer, default=0)
    spot_passed: Mapped[int] = mapped_column(Integer, default=0)
    open_findings: Mapped[int] = mapped_column(Integer, default=0)
    ledger_since: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Wherever the campaign tables are mapped, writes to the tables progress reads are counted
# (fleet/campaign/changes.py), so the progress snapshot knows when it is out of date.
from fleet.campaign import changes as _changes  # noqa: E402 - after the tables it counts writes to

_changes.install()

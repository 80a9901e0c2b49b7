"""`device_refusals` (Alembic revision `0005_oscore`): how many messages naming a device the
fleet refused, per reason, shown on the device's page.

Why a table of its own and not `ingest_errors`: that one counts per resource, and the resource
of an OSCORE request is encrypted; an operator asking "is someone replaying this valve's
messages?" needs the device. Written by `ErrorCounter.flush` (fleet/ingest/counters.py) from
in-memory tallies, so a flood of forged datagrams is a few upserts, not a write per datagram.

`device_id` is the device's protocol id, or `kid:<hex>` for a protected message whose key id
the fleet does not know (no device to charge it to; ':' never occurs in a device id)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from fleet.store.base import Base
from fleet.store.types import UTCDateTime


class DeviceRefusal(Base):
    __tablename__ = "device_refusals"
    __table_args__ = (UniqueConstraint("device_id", "reason"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(32), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    count: Mapped[int] = mapped_column(Integer, default=0)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_detail: Mapped[str | None] = mapped_column(String(500))
    last_remote: Mapped[str | None] = mapped_column(String(64))


def oscore_refusals(session: Session, device_id: str) -> list[DeviceRefusal]:
    """The device's refusal tallies, most recent first (the device page)."""
    return list(session.scalars(select(DeviceRefusal).where(DeviceRefusal.device_id == device_id)
                                .order_by(DeviceRefusal.last_at.desc())))


def oscore_since(session: Session, device_id: str) -> datetime | None:
    """Since when the device speaks OSCORE under its current key (None: not yet, or no key)."""
    from fleet.provision.models import DeviceCredential

    return session.scalars(select(DeviceCredential.oscore_since).where(DeviceCredential.device_id == device_id)).first()

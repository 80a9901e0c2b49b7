"""The `manufacturing_records` table (Alembic revision `0006_manufacturing`).

One row per chip: the board's unique id is its identity for life (the fleet's device id is
`gg-<chip id>`), so the row is keyed by it. A board flashed again keeps its row, which then shows
the latest flash and counts them; the same record sent twice (`gasguard flash --resend` after a
lost answer) changes nothing. No foreign key to `devices`: a board is made long before it first
talks to the fleet."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from fleet.store.base import Base
from fleet.store.types import UTCDateTime


class ManufacturingRecord(Base):
    __tablename__ = "manufacturing_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chip_id: Mapped[str] = mapped_column(String(29), unique=True)
    device_id: Mapped[str] = mapped_column(String(32), index=True)
    model: Mapped[str] = mapped_column(String(64), index=True)
    board: Mapped[str | None] = mapped_column(String(64))
    chip: Mapped[str | None] = mapped_column(String(32))
    chip_description: Mapped[str | None] = mapped_column(String(128))
    mac: Mapped[str | None] = mapped_column(String(17))
    flash_size: Mapped[int | None] = mapped_column(Integer)  # bytes
    app_version: Mapped[str | None] = mapped_column(String(64))
    image_sha256: Mapped[str | None] = mapped_column(String(64))
    flashed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    flashes: Mapped[int] = mapped_column(Integer, default=1)
    first_recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    recorded_by: Mapped[str] = mapped_column(String(128))

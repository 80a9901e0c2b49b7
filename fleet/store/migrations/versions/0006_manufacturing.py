"""Manufacturing records: one row per flashed board (fleet/manufacturing/models.py), posted by
`gasguard flash` with a maker's token.

Written by hand to match fleet/manufacturing/models.py.

Revision ID: 0006_manufacturing
Revises: 0005_oscore
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Registers manufacturing_records in Base.metadata whenever the migrations are loaded.
import fleet.manufacturing.models  # noqa: F401
from fleet.store.types import UTCDateTime

revision: str = "0006_manufacturing"
down_revision: str | None = "0005_oscore"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "manufacturing_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chip_id", sa.String(29), nullable=False),
        sa.Column("device_id", sa.String(32), nullable=False),
        sa.Column("model", sa.String(64), nullable=False),
        sa.Column("board", sa.String(64)),
        sa.Column("chip", sa.String(32)),
        sa.Column("chip_description", sa.String(128)),
        sa.Column("mac", sa.String(17)),
        sa.Column("flash_size", sa.Integer()),
        sa.Column("app_version", sa.String(64)),
        sa.Column("image_sha256", sa.String(64)),
        sa.Column("flashed_at", UTCDateTime(), nullable=False),
        sa.Column("flashes", sa.Integer(), nullable=False),
        sa.Column("first_recorded_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_manufacturing_records"),
        sa.UniqueConstraint("chip_id", name="uq_manufacturing_records_chip_id"),
    )
    op.create_index("ix_manufacturing_records_device_id", "manufacturing_records", ["device_id"])
    op.create_index("ix_manufacturing_records_model", "manufacturing_records", ["model"])
    op.create_index("ix_manufacturing_records_recorded_at", "manufacturing_records", ["recorded_at"])


def downgrade() -> None:
    op.drop_index("ix_manufacturing_records_recorded_at", table_name="manufacturing_records")
    op.drop_index("ix_manufacturing_records_model", table_name="manufacturing_records")
    op.drop_index("ix_manufacturing_records_device_id", table_name="manufacturing_records")
    op.drop_table("manufacturing_records")

"""Indexes for the dashboard overview's two device lists at a million devices: online devices by
device id and offline devices by when they went offline. With only `ix_devices_online` SQLite
read every online device (about 980,000) and sorted them to show the first 200.

Written by hand to match fleet/store/models.py (Device.__table_args__).

Revision ID: 0007_device_list_indexes
Revises: 0006_manufacturing
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007_device_list_indexes"
down_revision: str | None = "0006_manufacturing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (("devices", ("online", "device_id")), ("devices", ("online", "last_offline_at")))


def upgrade() -> None:
    for table, cols in INDEXES:
        op.create_index(f"ix_{table}_{'_'.join(cols)}", table, list(cols))


def downgrade() -> None:
    for table, cols in INDEXES:
        op.drop_index(f"ix_{table}_{'_'.join(cols)}", table_name=table)

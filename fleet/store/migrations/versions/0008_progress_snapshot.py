"""The township progress snapshot (fleet/campaign/snapshot.py): the campaign's change counter with
what the snapshot reflects (`campaign_progress_state`, one row, id 1) and one row of counters per
community of each township (`campaign_progress_areas`; a township's figures are the sums). At a
million sites the live progress query takes seconds; the dashboard and
`GET /api/v1/campaign/progress` serve this snapshot instead, which a background task recomputes
when the counter moved or the date changed.

Written by hand to match fleet/campaign/models.py (ProgressState, ProgressArea). The state row
starts with `changes` = 1 and no snapshot, so the first refresh computes one.

Revision ID: 0008_progress_snapshot
Revises: 0007_device_list_indexes
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from fleet.store.types import UTCDateTime

revision: str = "0008_progress_snapshot"
down_revision: str | None = "0007_device_list_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTERS = ("sites", "residential", "non_residential", "residential_ok", "non_residential_ok",
            "non_residential_accepted", "installed_sites", "self_checked", "self_passed", "spot_checked",
            "spot_passed", "open_findings")


def upgrade() -> None:
    state = op.create_table(
        "campaign_progress_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("changes", sa.BigInteger(), nullable=False),
        sa.Column("snapshot_as_of", sa.Date()),
        sa.Column("snapshot_changes", sa.BigInteger()),
        sa.Column("computed_at", UTCDateTime()),
        sa.Column("refresh_ms", sa.Integer()),
        sa.PrimaryKeyConstraint("id", name="pk_campaign_progress_state"),
    )
    op.bulk_insert(state, [{"id": 1, "changes": 1}])
    op.create_table(
        "campaign_progress_areas",
        sa.Column("township", sa.String(128), nullable=False),
        sa.Column("community", sa.String(128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in COUNTERS],
        sa.Column("ledger_since", UTCDateTime()),
        sa.PrimaryKeyConstraint("township", "community", name="pk_campaign_progress_areas"),
    )


def downgrade() -> None:
    op.drop_table("campaign_progress_areas")
    op.drop_table("campaign_progress_state")

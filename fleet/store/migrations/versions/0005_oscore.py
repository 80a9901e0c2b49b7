"""OSCORE on the fleet: the running context's state on `device_credentials` (reserved sender
sequence numbers, replay window, since when the device speaks OSCORE), room for the sealed
Master Secret, and `device_refusals` (per-device counts of refused messages).

Existing clear secrets are sealed by the fleet at start-up, not here: the key comes from the
fleet's configuration, which a schema migration does not see (fleet/coap/oscore_vault.py,
`seal_clear_rows` in fleet/coap/oscore_keys.py).

Written by hand to match fleet/provision/models.py and fleet/coap/oscore_models.py.

Revision ID: 0005_oscore
Revises: 0004_security
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Registers device_refusals in Base.metadata whenever the migrations are loaded.
import fleet.coap.oscore_models  # noqa: F401
from fleet.store.types import UTCDateTime

revision: str = "0005_oscore"
down_revision: str | None = "0004_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("device_credentials") as batch:
        batch.alter_column("master_secret", existing_type=sa.String(64), type_=sa.String(128),
                           existing_nullable=False)
        batch.add_column(sa.Column("seq_limit", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("replay_state", sa.String(64), nullable=False, server_default="new"))
        batch.add_column(sa.Column("oscore_since", UTCDateTime(), nullable=True))
    op.create_table(
        "device_refusals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(32), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_at", UTCDateTime(), nullable=False),
        sa.Column("last_at", UTCDateTime(), nullable=False),
        sa.Column("last_detail", sa.String(500)),
        sa.Column("last_remote", sa.String(64)),
        sa.PrimaryKeyConstraint("id", name="pk_device_refusals"),
        sa.UniqueConstraint("device_id", "reason", name="uq_device_refusals_device_id_reason"),
    )
    op.create_index("ix_device_refusals_device_id", "device_refusals", ["device_id"])


def downgrade() -> None:
    op.drop_index("ix_device_refusals_device_id", table_name="device_refusals")
    op.drop_table("device_refusals")
    with op.batch_alter_table("device_credentials") as batch:
        batch.drop_column("oscore_since")
        batch.drop_column("replay_state")
        batch.drop_column("seq_limit")
        batch.alter_column("master_secret", existing_type=sa.String(128), type_=sa.String(64),
                           existing_nullable=False)

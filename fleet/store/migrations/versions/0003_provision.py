"""Provisioning tables: enrolment tokens, device credentials (OSCORE key material),
acceptance tests.

Written by hand to match fleet/provision/models.py (tests/fleet/store/test_migrate.py diffs
the migrated schema against `Base.metadata`).

Revision ID: 0003_provision
Revises: 0002_lifecycle_campaign
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# Registers the provisioning tables in Base.metadata whenever the migrations are loaded (env.py
# lists the core model modules; this keeps the schema check complete without editing it).
import fleet.provision.models  # noqa: F401
from fleet.store.types import UTCDateTime

revision: str = "0003_provision"
down_revision: str | None = "0002_lifecycle_campaign"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


def _str(name: str, length: int, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.String(length), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "enrolment_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("token_sha256", 64, False),
        _str("installer", 128, False),
        _str("issued_by", 128, False),
        _ts("issued_at", False),
        _ts("expires_at", False),
        _ts("revoked_at"),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_enrolment_tokens"),
        sa.UniqueConstraint("token_sha256", name="uq_enrolment_tokens_token_sha256"),
    )
    op.create_index("ix_enrolment_tokens_expires_at", "enrolment_tokens", ["expires_at"])
    op.create_table(
        "device_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("device_id", 32, False),
        _str("uid", 64),
        _str("sender_id", 14, False),
        _str("recipient_id", 14, False),
        _str("master_secret", 64, False),
        _str("master_salt", 64, False),
        _str("id_context", 32, False),
        sa.Column("version", sa.Integer(), nullable=False),
        _ts("issued_at", False),
        _str("issued_to", 128, False),
        sa.PrimaryKeyConstraint("id", name="pk_device_credentials"),
        sa.UniqueConstraint("device_id", name="uq_device_credentials_device_id"),
        sa.UniqueConstraint("sender_id", name="uq_device_credentials_sender_id"),
    )
    op.create_table(
        "acceptance_tests",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("device_id", 32, False),
        _str("site_code", 64),
        sa.Column("install_id", sa.Integer()),
        _str("result", 8, False),
        sa.Column("checks", JSON, nullable=False),
        _str("method", 16, False),
        _str("installer", 128, False),
        _ts("tested_at", False),
        sa.Column("note", sa.Text()),
        sa.ForeignKeyConstraint(["install_id"], ["installs.id"], name="fk_acceptance_tests_install_id_installs"),
        sa.PrimaryKeyConstraint("id", name="pk_acceptance_tests"),
    )
    op.create_index("ix_acceptance_tests_device_id", "acceptance_tests", ["device_id"])
    op.create_index("ix_acceptance_tests_install_id", "acceptance_tests", ["install_id"])


def downgrade() -> None:
    op.drop_table("acceptance_tests")
    op.drop_table("device_credentials")
    op.drop_table("enrolment_tokens")

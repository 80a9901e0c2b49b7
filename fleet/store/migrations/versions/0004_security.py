"""Security tables (users, API tokens, dashboard sessions, enrolment-token bindings) and the
audit log made append-only in the database itself (a trigger refusing UPDATE and DELETE, on
SQLite and PostgreSQL alike).

Written by hand to match fleet/security/models.py.

Revision ID: 0004_security
Revises: 0003_provision
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# Registers the security tables in Base.metadata whenever the migrations are loaded.
import fleet.security.models  # noqa: F401
from fleet.store.types import UTCDateTime

revision: str = "0004_security"
down_revision: str | None = "0003_provision"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_MESSAGE = "audit_log is append-only: rows are never updated or deleted"


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(128)),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("township", sa.String(128)),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        _ts("created_at", False),
        _ts("password_changed_at", False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        _ts("created_at", False),
        _ts("expires_at", False),
        _ts("revoked_at"),
        _ts("last_used_at"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_api_tokens_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_sha256", name="uq_api_tokens_token_sha256"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("session_sha256", sa.String(64), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        _ts("created_at", False),
        _ts("expires_at", False),
        _ts("ended_at"),
        sa.Column("address", sa.String(64)),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_web_sessions_user_id_users"),
        sa.PrimaryKeyConstraint("id", name="pk_web_sessions"),
        sa.UniqueConstraint("session_sha256", name="uq_web_sessions_session_sha256"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_table(
        "enrolment_bindings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(32)),
        sa.Column("max_devices", sa.Integer(), nullable=False),
        _ts("bound_at", False),
        sa.ForeignKeyConstraint(["token_id"], ["enrolment_tokens.id"],
                                name="fk_enrolment_bindings_token_id_enrolment_tokens"),
        sa.PrimaryKeyConstraint("id", name="pk_enrolment_bindings"),
    )
    op.create_index("ix_enrolment_bindings_token_id", "enrolment_bindings", ["token_id"])

    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                       f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END")
    elif dialect == "postgresql":
        op.execute("CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   f"BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; END $$")
        op.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
                   "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    op.drop_table("enrolment_bindings")
    op.drop_table("web_sessions")
    op.drop_table("api_tokens")
    op.drop_table("users")

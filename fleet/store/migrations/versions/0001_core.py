"""Core fleet tables: catalogue, sites, assets, devices, events, gaps, alarms, audit log,
commands, readings, ingest error counters, notification outbox.

Written by hand (checked against the models by tests/fleet/store/test_migrate.py, which diffs the
migrated schema against `Base.metadata`). Lifecycle and campaign tables follow in `0002_...`.

Revision ID: 0001_core
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from fleet.store.types import UTCDateTime

revision: str = "0001_core"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite rowid alias needs INTEGER


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


def _str(name: str, length: int, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.String(length), nullable=nullable)


def _device_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["device_id"], ["devices.device_id"], name=f"fk_{table}_device_id_devices")


def _index(table: str, *cols: str) -> None:
    op.create_index(f"ix_{table}_{'_'.join(cols)}", table, list(cols))


def upgrade() -> None:
    op.create_table(
        "product_models",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("code", 64, False),
        _str("kind", 32, False),
        _str("maker", 128, False),
        _str("model", 128, False),
        _str("gas", 32),
        _str("sensor", 64),
        sa.Column("calibration_interval_days", sa.Integer()),
        sa.Column("sensor_life_days", sa.Integer()),
        sa.Column("service_life_days", sa.Integer()),
        sa.Column("heartbeat_interval_s", sa.Integer()),
        sa.Column("offline_grace_s", sa.Integer()),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.Text()),
        _ts("created_at", False),
        sa.PrimaryKeyConstraint("id", name="pk_product_models"),
        sa.UniqueConstraint("code", name="uq_product_models_code"),
    )
    _index("product_models", "kind")

    op.create_table(
        "sites",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("account_no", 64, False),
        _str("name", 256, False),
        _str("category", 32, False),
        _str("supply", 16, False),
        _str("township", 128),
        _str("community", 128),
        _str("address", 512),
        _str("contact", 128),
        _str("phone", 64),
        sa.Column("extra", JSON),
        _ts("created_at", False),
        _ts("updated_at", False),
        sa.PrimaryKeyConstraint("id", name="pk_sites"),
        sa.UniqueConstraint("account_no", name="uq_sites_account_no"),
    )
    _index("sites", "category")
    _index("sites", "township")

    op.create_table(
        "assets",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("kind", 32, False),
        sa.Column("product_model_id", sa.Integer()),
        _str("serial", 128),
        sa.Column("site_id", sa.Integer()),
        sa.Column("installed_on", sa.Date()),
        _str("status", 16, False),
        _ts("replaced_at"),
        sa.Column("replaced_by_id", sa.Integer()),
        _str("location", 256),
        sa.Column("extra", JSON),
        _ts("created_at", False),
        sa.ForeignKeyConstraint(["product_model_id"], ["product_models.id"], name="fk_assets_product_model_id_product_models"),
        sa.ForeignKeyConstraint(["replaced_by_id"], ["assets.id"], name="fk_assets_replaced_by_id_assets"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_assets_site_id_sites"),
        sa.PrimaryKeyConstraint("id", name="pk_assets"),
    )
    for col in ("kind", "product_model_id", "serial", "site_id", "status"):
        _index("assets", col)

    op.create_table(
        "devices",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("device_id", 32, False),
        sa.Column("asset_id", sa.Integer()),
        sa.Column("product_model_id", sa.Integer()),
        sa.Column("site_id", sa.Integer()),
        _str("model_code", 64),
        _str("site_code", 64),
        _str("uid", 64),
        _str("board", 64),
        _str("fw", 64),
        _str("gas", 16),
        sa.Column("boot", sa.Integer()),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        _str("address", 128),
        _ts("registered_at"),
        _ts("last_report_at"),
        _ts("last_online_at"),
        _ts("last_offline_at"),
        _ts("last_poll_at"),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("health", JSON),
        _ts("created_at", False),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"], name="fk_devices_asset_id_assets"),
        sa.ForeignKeyConstraint(["product_model_id"], ["product_models.id"], name="fk_devices_product_model_id_product_models"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_devices_site_id_sites"),
        sa.PrimaryKeyConstraint("id", name="pk_devices"),
        sa.UniqueConstraint("device_id", name="uq_devices_device_id"),
    )
    for col in ("asset_id", "last_report_at", "online", "product_model_id", "site_id"):
        _index("devices", col)

    op.create_table(
        "events",
        sa.Column("id", BIGID, nullable=False),
        _str("device_id", 32, False),
        sa.Column("seq", sa.BigInteger()),
        _str("kind", 32, False),
        _str("origin", 8, False),
        sa.Column("uptime_s", sa.BigInteger()),
        _ts("device_time"),
        sa.Column("payload", JSON, nullable=False),
        _ts("received_at", False),
        _device_fk("events"),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("device_id", "seq", name="uq_events_device_id_seq"),
    )
    _index("events", "kind")
    _index("events", "received_at")

    op.create_table(
        "sequence_gaps",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("device_id", 32, False),
        sa.Column("first_missing", sa.BigInteger(), nullable=False),
        sa.Column("last_missing", sa.BigInteger(), nullable=False),
        sa.Column("recovered", sa.Integer(), nullable=False),
        _ts("detected_at", False),
        _ts("closed_at"),
        _device_fk("sequence_gaps"),
        sa.PrimaryKeyConstraint("id", name="pk_sequence_gaps"),
    )
    _index("sequence_gaps", "device_id")

    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("device_id", 32, False),
        sa.Column("site_id", sa.Integer()),
        _str("state", 16, False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("peak_lel", sa.Float()),
        sa.Column("opened_seq", sa.BigInteger()),
        _ts("opened_at", False),
        _ts("valve_closed_at"),
        _ts("cleared_at"),
        _ts("acknowledged_at"),
        _str("acknowledged_by", 128),
        _ts("resolved_at"),
        _str("resolved_by", 128),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        _ts("escalated_at"),
        sa.Column("note", sa.Text()),
        _device_fk("alarms"),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name="fk_alarms_site_id_sites"),
        sa.PrimaryKeyConstraint("id", name="pk_alarms"),
    )
    _index("alarms", "device_id")
    _index("alarms", "site_id")
    _index("alarms", "state", "opened_at")

    op.create_table(
        "audit_log",
        sa.Column("id", BIGID, nullable=False),
        _ts("at", False),
        _str("actor", 128, False),
        _str("action", 64, False),
        _str("entity", 32, False),
        _str("entity_id", 64, False),
        sa.Column("detail", JSON),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    _index("audit_log", "at")
    _index("audit_log", "entity", "entity_id")

    op.create_table(
        "commands",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("device_id", 32, False),
        _str("op", 32, False),
        _str("state", 16, False),
        _str("request_key", 128),
        _str("created_by", 128, False),
        _ts("created_at", False),
        _ts("expires_at"),
        _ts("sent_at"),
        _str("sent_via", 16),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("finished_at"),
        sa.Column("result", JSON),
        _device_fk("commands"),
        sa.PrimaryKeyConstraint("id", name="pk_commands"),
        sa.UniqueConstraint("request_key", name="uq_commands_request_key"),
    )
    _index("commands", "device_id", "state")

    op.create_table(
        "readings",
        sa.Column("id", BIGID, nullable=False),
        _str("device_id", 32, False),
        _ts("at", False),
        sa.Column("lel", sa.Float()),
        sa.Column("alarm", sa.Integer()),
        sa.Column("valve", sa.Integer()),
        sa.Column("faults", sa.Integer()),
        sa.Column("rssi", sa.Float()),
        sa.Column("heap_free", sa.Integer()),
        sa.Column("battery_pct", sa.Float()),
        sa.Column("uptime_s", sa.BigInteger()),
        _device_fk("readings"),
        sa.PrimaryKeyConstraint("id", name="pk_readings"),
    )
    _index("readings", "device_id", "at")

    op.create_table(
        "ingest_errors",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("resource", 64, False),
        _str("reason", 64, False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        _ts("first_at", False),
        _ts("last_at", False),
        sa.Column("last_detail", sa.Text()),
        _str("last_remote", 128),
        sa.PrimaryKeyConstraint("id", name="pk_ingest_errors"),
        sa.UniqueConstraint("resource", "reason", name="uq_ingest_errors_resource_reason"),
    )

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("topic", 64, False),
        sa.Column("alarm_id", sa.Integer()),
        sa.Column("payload", JSON, nullable=False),
        _str("state", 16, False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("created_at", False),
        _ts("next_attempt_at", False),
        _ts("delivered_at"),
        sa.Column("last_error", sa.Text()),
        sa.ForeignKeyConstraint(["alarm_id"], ["alarms.id"], name="fk_notifications_alarm_id_alarms"),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
    )
    _index("notifications", "alarm_id")
    _index("notifications", "state", "next_attempt_at")


def downgrade() -> None:
    # Children first; dropping a table drops its indexes.
    for table in (
        "notifications",
        "ingest_errors",
        "readings",
        "commands",
        "audit_log",
        "alarms",
        "sequence_gaps",
        "events",
        "devices",
        "assets",
        "sites",
        "product_models",
    ):
        op.drop_table(table)

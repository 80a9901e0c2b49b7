"""Lifecycle and campaign tables: work orders, calibration records, installs and their items,
inspections, findings, supply stops.

Written by hand to match fleet/lifecycle/models.py and fleet/campaign/models.py (checked by
tests/fleet/store/test_migrate.py, which diffs the migrated schema against `Base.metadata`).

Revision ID: 0002_lifecycle_campaign
Revises: 0001_core
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from fleet.store.types import UTCDateTime

revision: str = "0002_lifecycle_campaign"
down_revision: str | None = "0001_core"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


def _str(name: str, length: int, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.String(length), nullable=nullable)


def _fk(table: str, col: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([col], [f"{target}.id"], name=f"fk_{table}_{col}_{target}")


def _index(table: str, *cols: str) -> None:
    op.create_index(f"ix_{table}_{'_'.join(cols)}", table, list(cols))


def upgrade() -> None:
    op.create_table(
        "work_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("key", 160, False),
        _str("kind", 32, False),
        _str("state", 16, False),
        sa.Column("site_id", sa.Integer()),
        sa.Column("asset_id", sa.Integer()),
        _str("device_id", 32),
        sa.Column("due_on", sa.Date()),
        _str("payer", 16, False),
        _ts("raised_at", False),
        _str("assignee", 128),
        _ts("assigned_at"),
        _ts("done_at"),
        _str("done_by", 128),
        _ts("closed_at"),
        _str("closed_by", 128),
        sa.Column("note", sa.Text()),
        sa.Column("extra", JSON),
        _fk("work_orders", "site_id", "sites"),
        _fk("work_orders", "asset_id", "assets"),
        sa.PrimaryKeyConstraint("id", name="pk_work_orders"),
        sa.UniqueConstraint("key", name="uq_work_orders_key"),
    )
    for cols in (("kind",), ("site_id",), ("asset_id",), ("device_id",), ("state", "due_on")):
        _index("work_orders", *cols)

    op.create_table(
        "calibration_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("calibrated_on", sa.Date(), nullable=False),
        _str("calibrated_by", 128, False),
        _str("result", 8, False),
        _str("certificate_no", 64),
        sa.Column("work_order_id", sa.Integer()),
        sa.Column("note", sa.Text()),
        _ts("created_at", False),
        _fk("calibration_records", "asset_id", "assets"),
        _fk("calibration_records", "work_order_id", "work_orders"),
        sa.PrimaryKeyConstraint("id", name="pk_calibration_records"),
    )
    _index("calibration_records", "asset_id", "calibrated_on")

    op.create_table(
        "installs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("installed_on", sa.Date(), nullable=False),
        _str("installer", 128, False),
        _str("company", 128),
        sa.Column("total_fen", sa.BigInteger(), nullable=False),
        sa.Column("city_fen", sa.BigInteger(), nullable=False),
        sa.Column("gas_company_fen", sa.BigInteger(), nullable=False),
        sa.Column("user_fen", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text()),
        _ts("created_at", False),
        _fk("installs", "site_id", "sites"),
        sa.PrimaryKeyConstraint("id", name="pk_installs"),
    )
    _index("installs", "installed_on")
    _index("installs", "site_id", "installed_on")

    op.create_table(
        "install_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("install_id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        _fk("install_items", "install_id", "installs"),
        _fk("install_items", "asset_id", "assets"),
        sa.PrimaryKeyConstraint("id", name="pk_install_items"),
        sa.UniqueConstraint("asset_id", name="uq_install_items_asset_id"),
    )
    _index("install_items", "install_id")

    op.create_table(
        "inspections",
        sa.Column("id", sa.Integer(), nullable=False),
        _str("kind", 32, False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("inspected_on", sa.Date(), nullable=False),
        _str("inspector", 128, False),
        _str("result", 8, False),
        _str("sample", 64),
        sa.Column("note", sa.Text()),
        sa.Column("extra", JSON),
        _ts("created_at", False),
        _fk("inspections", "site_id", "sites"),
        sa.PrimaryKeyConstraint("id", name="pk_inspections"),
    )
    _index("inspections", "site_id")
    _index("inspections", "kind", "site_id")

    op.create_table(
        "findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inspection_id", sa.Integer()),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer()),
        sa.Column("description", sa.Text(), nullable=False),
        _str("state", 16, False),
        sa.Column("found_on", sa.Date(), nullable=False),
        sa.Column("rectify_by", sa.Date()),
        sa.Column("rectified_on", sa.Date()),
        _str("rectified_by", 128),
        sa.Column("closed_on", sa.Date()),
        _str("closed_by", 128),
        _fk("findings", "inspection_id", "inspections"),
        _fk("findings", "site_id", "sites"),
        _fk("findings", "asset_id", "assets"),
        sa.PrimaryKeyConstraint("id", name="pk_findings"),
    )
    _index("findings", "inspection_id")
    _index("findings", "state", "site_id")

    op.create_table(
        "supply_stops",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _ts("stopped_at", False),
        _str("stopped_by", 128, False),
        _ts("hazard_removed_at"),
        _ts("restore_due_at"),
        _ts("restored_at"),
        _str("restored_by", 128),
        _fk("supply_stops", "site_id", "sites"),
        sa.PrimaryKeyConstraint("id", name="pk_supply_stops"),
    )
    _index("supply_stops", "site_id")


def downgrade() -> None:
    # Children first; dropping a table drops its indexes.
    for table in ("supply_stops", "findings", "inspections", "install_items", "installs",
                  "calibration_records", "work_orders"):
        op.drop_table(table)

"""Warehouse change tracking (issue 7, item 8): ``changed_at`` on the exported tables
(accounts, contracts, bill_chg, bill, payment), stamped by the database — a
``CURRENT_TIMESTAMP`` default on insert, triggers on update —, and the deletion log
``warehouse_deletion`` its delete triggers fill (billing/db/change_tracking.py).

Rows already there count as changed when the migration runs: the first export hour after the
upgrade carries the initial load.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from billing.db.change_tracking import TRACKED, create_change_triggers, drop_change_triggers

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_CODE, _NAME = 40, 200


def _changed_at() -> sa.Column:
    return sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False,
                     server_default=sa.text("CURRENT_TIMESTAMP"))


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in TRACKED:
        if sqlite:  # SQLite adds no column with a CURRENT_TIMESTAMP default: the table is rebuilt
            with op.batch_alter_table(table, recreate="always") as batch:
                batch.add_column(_changed_at())
        else:
            op.add_column(table, _changed_at())
        op.create_index(f"ix_{table}_changed_at", table, ["changed_at"])
    op.create_table(
        "warehouse_deletion",
        sa.Column("table_name", sa.String(_CODE), primary_key=True),
        sa.Column("row_key", sa.String(_NAME), primary_key=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_warehouse_deletion_hour", "warehouse_deletion", ["table_name", "deleted_at"])
    create_change_triggers(op.get_bind())


def downgrade() -> None:
    drop_change_triggers(op.get_bind())
    op.drop_table("warehouse_deletion")
    for table in TRACKED:
        op.drop_index(f"ix_{table}_changed_at", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("changed_at")

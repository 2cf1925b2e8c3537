"""Rollback, cancellation and disaggregation: the disaggregation work lists (legs and
aggregated charges taken apart), the pending bills deleted and waiting to be rebuilt, the
pricing changes that ask for a re-rating, the pricing a request re-rates to and a leg was priced by, and
a feed's reprocessing generation.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("txn_header", sa.Column("reprocess_no", sa.Integer, nullable=False, server_default="0"))
    op.add_column("disagg_req", sa.Column("reference_load_id", sa.Integer))
    op.add_column("txn_leg", sa.Column("priced_load_id", sa.Integer))
    op.create_table(
        "disagg_leg",
        sa.Column("leg_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("req_id", sa.BigInteger, nullable=False),
        sa.Column("txn_id", sa.BigInteger, nullable=False),
        sa.Column("header_id", sa.String(120), nullable=False),
        sa.Column("bill_chg_id", sa.BigInteger),
        sa.Column("aggregated_sw", sa.String(1)),
        sa.Column("action_cd", sa.String(40)),
        sa.Column("status", sa.String(1), nullable=False),
    )
    op.create_index("ix_disagg_leg_req_id", "disagg_leg", ["req_id"])
    op.create_table(
        "disagg_charge",
        sa.Column("bill_chg_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("req_id", sa.BigInteger, nullable=False),
        sa.Column("action_cd", sa.String(40), nullable=False),
        sa.Column("status", sa.String(1), nullable=False),
    )
    op.create_index("ix_disagg_charge_req_id", "disagg_charge", ["req_id"])
    op.create_table(
        "deleted_bill",
        sa.Column("bill_id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("bill_dt", sa.Date, nullable=False),
        sa.Column("request_type", sa.String(40), nullable=False),
        sa.Column("request_ref", sa.String(120), nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
    )
    op.create_table(
        "pricing_change",
        sa.Column("load_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("price_assignment_id", sa.String(64), primary_key=True),
        sa.Column("from_dt", sa.Date, nullable=False),
        sa.Column("status", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    for table in ("pricing_change", "deleted_bill", "disagg_charge", "disagg_leg"):
        op.drop_table(table)
    op.drop_column("txn_leg", "priced_load_id")
    op.drop_column("disagg_req", "reference_load_id")
    op.drop_column("txn_header", "reprocess_no")

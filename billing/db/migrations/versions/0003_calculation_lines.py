"""Calculation lines: the rating of each RITX/RITA leg and of each AGTR charge, kept so an
operator can see how an amount was reached (seed §3.8–3.11, CI_TXN_CALC / CI_TXN_CALC_LN).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from billing.db.money import Money

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "txn_calc_line",
        sa.Column("calc_line_id", sa.String(64), primary_key=True),
        sa.Column("leg_id", sa.BigInteger),
        sa.Column("bill_chg_id", sa.BigInteger),
        sa.Column("header_id", sa.String(120)),
        sa.Column("price_assignment_id", sa.String(64), nullable=False),
        sa.Column("rating_criteria", sa.String(4), nullable=False),
        sa.Column("rate_type", sa.String(40), nullable=False),
        sa.Column("sqi_basis", sa.String(40), nullable=False),
        sa.Column("quantity", Money, nullable=False),
        sa.Column("currency_cd", sa.String(3), nullable=False),
        sa.Column("amount", Money, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("txn_calc_line")

"""Legs lose their ``txn_id`` index: a transaction's legs are one range of the legs' primary
key (``leg_id`` = ``txn_id`` × 100 + sequence; ``billing.db.schema.legs_of``). Every index on
``txn_leg`` is written again by C1-TXNSQ's pass that sets ``bill_chg_id`` (the one update of
the legs that cannot be HOT), and once more by the legs' insert (issue 8: the indexes the
steps need, and no more).

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_txn_leg_txn_id", table_name="txn_leg")


def downgrade() -> None:
    op.create_index("ix_txn_leg_txn_id", "txn_leg", ["txn_id"])

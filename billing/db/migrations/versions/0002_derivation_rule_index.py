"""Index derivation rules by division and priority: C1-TXNIP looks up each transaction's rule
among its division's rules in priority order.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_derivation_rules_division", "derivation_rules", ["division_cd", "priority"])


def downgrade() -> None:
    op.drop_index("ix_derivation_rules_division", table_name="derivation_rules")

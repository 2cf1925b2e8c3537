"""Baseline: the schema of billing.db.schema as first released.

A new database is created from the schema and stamped here; later revisions alter it.

Revision ID: 0001
Revises:
"""

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to do: databases at this revision were created from the schema."""


def downgrade() -> None:
    """The baseline cannot be downgraded."""

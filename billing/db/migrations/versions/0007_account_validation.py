"""Account validation (issue 7, item 7): the daily validation results, one row per day and
rule, and their error log, one row per day, rule and failing entity.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_CODE, _ID = 40, 64


def upgrade() -> None:
    op.create_table(
        "validation_result",
        sa.Column("business_dt", sa.Date, primary_key=True),
        sa.Column("rule_cd", sa.String(_CODE), primary_key=True),
        sa.Column("check_name", sa.String(_CODE), nullable=False),
        sa.Column("entity_type", sa.String(_CODE), nullable=False),
        sa.Column("severity", sa.String(_CODE), nullable=False),
        sa.Column("checked_count", sa.Integer, nullable=False),
        sa.Column("failed_count", sa.Integer, nullable=False),
        sa.Column("outcome", sa.String(_CODE), nullable=False),
    )
    op.create_table(
        "validation_error",
        sa.Column("business_dt", sa.Date, primary_key=True),
        sa.Column("rule_cd", sa.String(_CODE), primary_key=True),
        sa.Column("entity_id", sa.String(_ID), primary_key=True),
        sa.Column("entity_type", sa.String(_CODE), nullable=False),
        sa.Column("severity", sa.String(_CODE), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("validation_error")
    op.drop_table("validation_result")

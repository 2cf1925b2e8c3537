"""Operations (batch_processing.yaml): alerts sent once, the feed circuit breaker, the batch
execution log and performance metrics filled from run events, and the audit trail.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from billing.db.money import Money

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_CODE, _ID, _NAME = 40, 64, 200


def _when(name: str, **kw) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), **kw)


def upgrade() -> None:
    op.create_table(
        "alert_log",
        sa.Column("alert_key", sa.String(_NAME), primary_key=True),
        sa.Column("condition", sa.String(_CODE), nullable=False),
        sa.Column("severity", sa.String(_CODE), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        _when("raised_at", nullable=False),
        _when("sent_at"),
        sa.Column("transport", sa.String(_CODE)),
    )
    op.create_table(
        "circuit_breaker",
        sa.Column("name", sa.String(_CODE), primary_key=True),
        sa.Column("state", sa.String(_CODE), nullable=False),
        _when("opened_at"),
        sa.Column("reason", sa.Text),
        _when("reset_at"),
        sa.Column("reset_by", sa.String(_NAME)),
    )
    op.create_table(
        "batch_execution_log",
        sa.Column("run_id", sa.String(_ID), primary_key=True),
        sa.Column("job_name", sa.String(_NAME), nullable=False),
        sa.Column("partition_key", sa.String(_NAME)),
        sa.Column("status", sa.String(_CODE), nullable=False),
        _when("started_at"),
        _when("ended_at"),
        sa.Column("steps_succeeded", sa.Integer, nullable=False),
        sa.Column("steps_failed", sa.Integer, nullable=False),
        sa.Column("message", sa.Text),
    )
    op.create_table(
        "batch_performance_metrics",
        sa.Column("run_id", sa.String(_ID), primary_key=True),
        sa.Column("job_name", sa.String(_NAME), nullable=False),
        sa.Column("partition_key", sa.String(_NAME)),
        sa.Column("duration_seconds", Money, nullable=False),
        sa.Column("records", sa.BigInteger),
        sa.Column("records_per_hour", sa.BigInteger),
        sa.Column("error_records", sa.BigInteger),
        sa.Column("error_rate_pct", Money),
    )
    op.create_table(
        "audit_log",
        sa.Column("audit_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        _when("at", nullable=False),
        sa.Column("actor", sa.String(_NAME), nullable=False),
        sa.Column("role", sa.String(_CODE)),
        sa.Column("event", sa.String(_CODE), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(_CODE), nullable=False),
        sa.Column("detail", sa.Text),
    )


def downgrade() -> None:
    for table in ("audit_log", "batch_performance_metrics", "batch_execution_log", "circuit_breaker", "alert_log"):
        op.drop_table(table)

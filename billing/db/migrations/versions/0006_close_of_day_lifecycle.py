"""Close of day: the status reasons and dates, grace dates, static balances and the
pending-transactions flag of accounts (and services), service definitions, the service period
of recurring charges and the bill of a late fee (each at most once), what of a bill is paid,
the tax rates in effect, payment files and payments, payment methods on file, notices and
daily statistics.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from billing.db.money import Money

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_CODE, _ID, _NAME = 40, 64, 200
_NOT_NULL = {"service_id": "service_id IS NOT NULL", "late_fee_bill_id": "late_fee_bill_id IS NOT NULL"}


def upgrade() -> None:
    for table in ("accounts", "services"):
        op.add_column(table, sa.Column("status_reason", sa.String(_CODE)))
        op.add_column(table, sa.Column("status_dt", sa.Date))
    op.add_column("accounts", sa.Column("grace_dt", sa.Date))
    op.add_column("accounts", sa.Column("balance", Money))
    op.add_column("accounts", sa.Column("past_due_balance", Money))
    op.add_column("accounts", sa.Column("balance_dt", sa.Date))
    op.add_column("accounts", sa.Column("finactivity_sw", sa.String(1)))
    op.add_column("bill", sa.Column("paid_amount", Money))
    op.add_column("bill_chg", sa.Column("service_id", sa.String(_ID)))
    op.add_column("bill_chg", sa.Column("period_start", sa.Date))
    op.add_column("bill_chg", sa.Column("period_end", sa.Date))
    op.add_column("bill_chg", sa.Column("late_fee_bill_id", sa.String(_ID)))
    op.create_index("ux_bill_chg_service_period", "bill_chg", ["service_id", "period_start"], unique=True,
                    postgresql_where=sa.text(_NOT_NULL["service_id"]), sqlite_where=sa.text(_NOT_NULL["service_id"]))
    op.create_index("ux_bill_chg_late_fee", "bill_chg", ["late_fee_bill_id"], unique=True,
                    postgresql_where=sa.text(_NOT_NULL["late_fee_bill_id"]),
                    sqlite_where=sa.text(_NOT_NULL["late_fee_bill_id"]))
    op.create_table(
        "service_definitions",
        sa.Column("service_cd", sa.String(_CODE), primary_key=True),
        sa.Column("description", sa.String(_NAME)),
        sa.Column("end_dt", sa.Date),
        sa.Column("status", sa.String(_CODE), nullable=False, server_default="OPEN"),
    )
    op.create_table(
        "tax_rate_in_effect",
        sa.Column("tax_cd", sa.String(_CODE), primary_key=True),
        sa.Column("effective_dt", sa.Date, nullable=False),
        sa.Column("rate_percent", Money, nullable=False),
        sa.Column("applied_dt", sa.Date, nullable=False),
    )
    op.create_table(
        "payment_file",
        sa.Column("file_id", sa.String(_ID), primary_key=True),
        sa.Column("file_name", sa.String(_NAME), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("accepted", sa.Integer, nullable=False),
        sa.Column("rejected", sa.Integer, nullable=False),
        sa.Column("message", sa.Text),
    )
    op.create_table(
        "payment",
        sa.Column("payment_id", sa.String(_ID), primary_key=True),
        sa.Column("account_id", sa.String(_ID), nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("payment_dt", sa.Date, nullable=False),
        sa.Column("reference", sa.String(_NAME), nullable=False),
        sa.Column("file_id", sa.String(_ID), nullable=False),
    )
    op.create_index("ix_payment_account_id", "payment", ["account_id"])
    op.create_index("ux_payment_account_reference", "payment", ["account_id", "reference"], unique=True)
    op.create_table(
        "account_payment_info",
        sa.Column("account_id", sa.String(_ID), primary_key=True),
        sa.Column("payment_method", sa.String(_NAME), nullable=False),
        sa.Column("updated_dt", sa.Date, nullable=False),
    )
    op.create_table(
        "notice",
        sa.Column("notice_id", sa.String(_NAME), primary_key=True),
        sa.Column("kind", sa.String(_CODE), nullable=False),
        sa.Column("entity_id", sa.String(_ID), nullable=False),
        sa.Column("business_dt", sa.Date, nullable=False),
        sa.Column("recipient", sa.String(_NAME), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("transport", sa.String(_CODE)),
    )
    op.create_table(
        "daily_statistic",
        sa.Column("business_dt", sa.Date, primary_key=True),
        sa.Column("metric", sa.String(_CODE), primary_key=True),
        sa.Column("value", Money, nullable=False),
    )


def downgrade() -> None:
    for table in ("daily_statistic", "notice", "account_payment_info", "payment", "payment_file",
                  "tax_rate_in_effect", "service_definitions"):
        op.drop_table(table)
    op.drop_index("ux_bill_chg_late_fee", "bill_chg")
    op.drop_index("ux_bill_chg_service_period", "bill_chg")
    for column in ("late_fee_bill_id", "period_end", "period_start", "service_id"):
        op.drop_column("bill_chg", column)
    op.drop_column("bill", "paid_amount")
    for column in ("finactivity_sw", "balance_dt", "past_due_balance", "balance", "grace_dt"):
        op.drop_column("accounts", column)
    for table in ("accounts", "services"):
        op.drop_column(table, "status_dt")
        op.drop_column(table, "status_reason")

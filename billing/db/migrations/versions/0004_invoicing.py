"""Invoicing: bills carry their division, currency and tax; segments their charge's amount
and exchange rate; credit notes, documents and the close-of-day log are new. One bill per
account and day, one segment per charge (unique indexes).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from billing.db.money import Money

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for column in (
        sa.Column("division_cd", sa.String(40)),
        sa.Column("currency_cd", sa.String(3)),
        sa.Column("tax_cd", sa.String(40)),
        sa.Column("tax_rate_percent", Money),
        sa.Column("completed_dt", sa.Date),
        sa.Column("message", sa.Text),
    ):
        op.add_column("bill", column)
    op.create_index("ux_bill_account_day", "bill", ["account_id", "bill_dt"], unique=True)
    for column in (
        sa.Column("charge_amount", Money),
        sa.Column("charge_currency_cd", sa.String(3)),
        sa.Column("exchange_rate", Money),
        sa.Column("message", sa.Text),
    ):
        op.add_column("bill_segment", column)
    op.drop_index("ix_bill_segment_bill_chg_id", table_name="bill_segment")
    op.create_index("ix_bill_segment_bill_chg_id", "bill_segment", ["bill_chg_id"], unique=True)
    op.create_table(
        "credit_note",
        sa.Column("credit_note_id", sa.String(64), primary_key=True),
        sa.Column("bill_id", sa.String(64), nullable=False, unique=True),
        sa.Column("credit_number", sa.String(40), nullable=False, unique=True),
        sa.Column("credit_dt", sa.Date, nullable=False),
        sa.Column("amount", Money, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_table(
        "bill_document",
        sa.Column("document_id", sa.String(64), primary_key=True),
        sa.Column("bill_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("recipient", sa.String(200)),
        sa.Column("html_path", sa.Text),
        sa.Column("pdf_path", sa.Text),
        sa.Column("rendered_at", sa.DateTime(timezone=True)),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("transport", sa.String(40)),
        sa.Column("message_id", sa.String(200)),
    )
    op.create_index("ix_bill_document_bill_id", "bill_document", ["bill_id"])
    op.create_table(
        "closeofday_log",
        sa.Column("business_dt", sa.Date, primary_key=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bills_created", sa.Integer, nullable=False),
        sa.Column("bills_completed", sa.Integer, nullable=False),
        sa.Column("documents_sent", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("closeofday_log")
    op.drop_table("bill_document")
    op.drop_table("credit_note")
    op.drop_index("ix_bill_segment_bill_chg_id", table_name="bill_segment")
    op.create_index("ix_bill_segment_bill_chg_id", "bill_segment", ["bill_chg_id"])
    for name in ("message", "exchange_rate", "charge_currency_cd", "charge_amount"):
        op.drop_column("bill_segment", name)
    op.drop_index("ux_bill_account_day", table_name="bill")
    for name in ("message", "completed_dt", "tax_rate_percent", "tax_cd", "currency_cd", "division_cd"):
        op.drop_column("bill", name)

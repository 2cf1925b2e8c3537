"""Staged and validated transactions lose their ``(header_id, external_txn_id)`` indexes, which
no step reads: C1-TXNIP finds a feed's repeated external ids in one window pass over all the
feed's rows. Each index cost its share of every feed's load — the ``COPY`` into staging and
the move into ``txn_detail`` — for nothing (issue 8: the indexes the steps need, and no more).

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TABLES = ("txn_detail_stg", "txn_detail")


def upgrade() -> None:
    for table in _TABLES:
        op.drop_index(f"ix_{table}_external", table_name=table)


def downgrade() -> None:
    for table in _TABLES:
        op.create_index(f"ix_{table}_external", table, ["header_id", "external_txn_id"])

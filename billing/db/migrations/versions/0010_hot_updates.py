"""Room for HOT updates of transactions and legs: every step of the aggregation rewrites the
feed's rows of ``txn_detail`` (status) and ``txn_leg`` (summary, facts, charge, status).

PostgreSQL rewrites a row in place (a heap-only tuple: no index touched) only when no indexed
column changes and its page has room for the new version. So the per-feed indexes no longer
carry ``status`` — the steps read most of a feed's rows anyway and filter them by status —
and both tables leave half of each page free (``fillfactor`` 50; pages written before this
revision keep what they hold). At 200,000 transactions a status pass over the legs went from
20 s to 2–3 s.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_TABLES = ("txn_detail", "txn_leg")


def upgrade() -> None:
    for table in _TABLES:
        op.drop_index(f"ix_{table}_header", table_name=table)
        op.create_index(f"ix_{table}_header", table, ["header_id"])
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {table} SET (fillfactor = 50)")


def downgrade() -> None:
    for table in _TABLES:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
        op.drop_index(f"ix_{table}_header", table_name=table)
        op.create_index(f"ix_{table}_header", table, ["header_id", "status"])

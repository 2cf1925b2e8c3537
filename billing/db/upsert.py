"""Set-based upsert by primary key, on PostgreSQL and SQLite.

Reference data is loaded by key (DESIGN §4.4): a row whose key exists is updated, others are
inserted. Both backends spell that ``INSERT … ON CONFLICT (key) DO UPDATE``, but SQLAlchemy
builds it only from the dialect's own ``insert``; this picks the right one so callers issue
one executemany per table instead of a statement per row.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def upsert(conn: Connection, table: Table, rows: list[dict]) -> None:
    """Insert ``rows`` into ``table``, overwriting every non-key column of existing keys.

    Every row must name the same columns. ``table`` must have columns outside its key.
    """
    if not rows:
        return
    statement = _INSERTS[conn.dialect.name](table)
    key = [column.name for column in table.primary_key.columns]
    updates = {name: statement.excluded[name] for name in rows[0] if name not in key}
    conn.execute(statement.on_conflict_do_update(index_elements=key, set_=updates), rows)

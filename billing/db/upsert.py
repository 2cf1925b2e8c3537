"""Set-based upsert by primary key, on PostgreSQL and SQLite.

Reference data is loaded by key (DESIGN §4.4): a row whose key exists is updated, others are
inserted. Both backends spell that ``INSERT … ON CONFLICT (key) DO UPDATE``, but SQLAlchemy
builds it only from the dialect's own ``insert``; this picks the right one so callers issue
one executemany per table instead of a statement per row.
"""

from __future__ import annotations

from sqlalchemy import Connection, Table, case
from sqlalchemy.dialects import postgresql, sqlite

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def upsert(conn: Connection, table: Table, rows: list[dict], reset_on_status_change: tuple[str, ...] = ()) -> None:
    """Insert ``rows`` into ``table``, overwriting every non-key column of existing keys.

    Every row must name the same columns. ``table`` must have columns outside its key. The
    columns ``reset_on_status_change`` (not in the rows) become NULL where a row changes the
    ``status``: they describe the status that was.
    """
    if not rows:
        return
    statement = _INSERTS[conn.dialect.name](table)
    key = [column.name for column in table.primary_key.columns]
    updates = {name: statement.excluded[name] for name in rows[0] if name not in key}
    if reset_on_status_change:
        changed = table.c.status != statement.excluded.status
        updates.update({name: case((changed, None), else_=table.c[name]) for name in reset_on_status_change})
    conn.execute(statement.on_conflict_do_update(index_elements=key, set_=updates), rows)


def insert_new(conn: Connection, table: Table, rows: list[dict]) -> int:
    """Insert the ``rows`` whose key is not in ``table`` yet (``ON CONFLICT DO NOTHING``); how many were."""
    if not rows:
        return 0
    return conn.execute(_INSERTS[conn.dialect.name](table).on_conflict_do_nothing(), rows).rowcount

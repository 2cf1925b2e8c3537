"""When a row of an exported table last changed, kept by the database itself (EDW export).

The customers (``accounts``), ``contracts``, charges (``bill_chg``), bills (``bill``) and
``payment`` are written by steps all over the code base. Rather than teach each writer about
the warehouse, the database stamps the rows:

* INSERT: the column default ``CURRENT_TIMESTAMP`` fills ``changed_at`` (no trigger, so bulk
  loads such as the ``COPY`` into ``bill_chg`` pay nothing but the index);
* UPDATE: a trigger stamps ``changed_at`` again when the row's content changed and the
  statement did not set ``changed_at`` itself (so a replay or a test can write an explicit
  time; setting it to the value it has counts as not setting it). An update that rewrites a
  row as it was — a re-run, a reload of the same reference data — changes no stamp and
  exports nothing. A PostgreSQL ``BEFORE`` row trigger whose ``WHEN`` compares the rows; an
  SQLite ``AFTER`` trigger whose ``WHEN`` compares each column (read from the table when the
  triggers are installed: a migration that adds a column to a tracked table installs them
  again), which also stops it from firing on its own update;
* DELETE: the key and time go to ``warehouse_deletion`` (one row per table and key, the
  latest deletion), so that a deleted row reaches the warehouse as a tombstone — one
  ``INSERT … SELECT`` per statement over the transition table on PostgreSQL, a row trigger
  on SQLite.

Times are UTC: PostgreSQL's ``now()`` (the transaction's start: the rows one transaction
changes share one stamp), SQLite's ``datetime('now')`` (text ``YYYY-MM-DD HH:MM:SS``, the
format of ``CURRENT_TIMESTAMP``). ``TRUNCATE`` fires no trigger.

This module names no table definition, so that ``schema.py`` can install the triggers when it
builds a new database (migration 0008 installs them on an upgraded one).
"""

from __future__ import annotations

from sqlalchemy import Connection

# Exported table → its (single-column) primary key.
TRACKED = {
    "accounts": "account_id",
    "contracts": "contract_id",
    "bill_chg": "bill_chg_id",
    "bill": "bill_id",
    "payment": "payment_id",
}
DELETION_LOG = "warehouse_deletion"
STAMP = "changed_at"


def _sqlite_columns(conn: Connection, table: str) -> list[str]:
    return [row[1] for row in conn.exec_driver_sql(f"PRAGMA table_info({table})")]


def _postgresql(table: str, key: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS trg_{table}_changed_at ON {table}",
        f"CREATE TRIGGER trg_{table}_changed_at BEFORE UPDATE ON {table} FOR EACH ROW "
        "WHEN (NEW.changed_at IS NOT DISTINCT FROM OLD.changed_at AND OLD.* IS DISTINCT FROM NEW.*) "
        "EXECUTE FUNCTION warehouse_stamp_changed_at()",
        f"""CREATE OR REPLACE FUNCTION warehouse_deleted_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {DELETION_LOG} (table_name, row_key, deleted_at)
    SELECT '{table}', CAST({key} AS text), now() FROM gone
    ON CONFLICT (table_name, row_key) DO UPDATE SET deleted_at = EXCLUDED.deleted_at;
    RETURN NULL;
END $$""",
        f"DROP TRIGGER IF EXISTS trg_{table}_deleted ON {table}",
        f"CREATE TRIGGER trg_{table}_deleted AFTER DELETE ON {table} REFERENCING OLD TABLE AS gone "
        f"FOR EACH STATEMENT EXECUTE FUNCTION warehouse_deleted_{table}()",
    ]


_POSTGRESQL_STAMP = """CREATE OR REPLACE FUNCTION warehouse_stamp_changed_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_at := now();
    RETURN NEW;
END $$"""


def _sqlite(table: str, key: str, columns: list[str]) -> list[str]:
    changed = " OR ".join(f"NEW.{column} IS NOT OLD.{column}" for column in columns if column != STAMP)
    return [
        f"DROP TRIGGER IF EXISTS trg_{table}_changed_at",
        f"CREATE TRIGGER trg_{table}_changed_at AFTER UPDATE ON {table} FOR EACH ROW "
        f"WHEN NEW.changed_at IS OLD.changed_at AND ({changed}) BEGIN "
        f"UPDATE {table} SET changed_at = datetime('now') WHERE rowid = NEW.rowid; END",
        f"CREATE TRIGGER IF NOT EXISTS trg_{table}_deleted AFTER DELETE ON {table} FOR EACH ROW BEGIN "
        f"INSERT INTO {DELETION_LOG} (table_name, row_key, deleted_at) "
        f"VALUES ('{table}', CAST(OLD.{key} AS TEXT), datetime('now')) "
        "ON CONFLICT (table_name, row_key) DO UPDATE SET deleted_at = excluded.deleted_at; END",
    ]


def create_change_triggers(conn: Connection) -> None:
    """Install (or reinstall: it is idempotent) the triggers of every tracked table."""
    if conn.dialect.name == "postgresql":
        statements = [_POSTGRESQL_STAMP] + [s for table, key in TRACKED.items() for s in _postgresql(table, key)]
    else:
        statements = [s for table, key in TRACKED.items() for s in _sqlite(table, key, _sqlite_columns(conn, table))]
    for statement in statements:
        conn.exec_driver_sql(statement)


def drop_change_triggers(conn: Connection) -> None:
    """Remove what :func:`create_change_triggers` installed (migration 0008's downgrade)."""
    postgresql = conn.dialect.name == "postgresql"
    for table in TRACKED:
        for trigger in (f"trg_{table}_changed_at", f"trg_{table}_deleted"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}" + (f" ON {table}" if postgresql else ""))
        if postgresql:
            conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS warehouse_deleted_{table}()")
    if postgresql:
        conn.exec_driver_sql("DROP FUNCTION IF EXISTS warehouse_stamp_changed_at()")

"""Bulk loading of DataFrames: ``COPY`` on PostgreSQL, one ``executemany`` on SQLite."""

from __future__ import annotations

import io

import pandas as pd
from sqlalchemy import Connection, Table


def bulk_insert(conn: Connection, table: Table, frame: pd.DataFrame) -> int:
    """Insert every row of ``frame`` (columns named like ``table``'s) in one round trip."""
    if frame.empty:
        return 0
    columns = list(frame.columns)
    if conn.dialect.name == "postgresql":
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, header=False, na_rep="\\N")
        buffer.seek(0)
        cursor = conn.connection.driver_connection.cursor()
        cursor.copy_expert(
            f"COPY {table.name} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer
        )
        cursor.close()
    else:
        placeholders = ", ".join("?" for _ in columns)
        rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})", list(rows))
    return len(frame)


def analyze(conn: Connection, table: Table) -> None:
    """Refresh PostgreSQL's statistics after a bulk load, so the next steps plan for its size.

    ``SKIP_LOCKED``: the lock ANALYZE takes is held to the end of the step's transaction; a
    concurrent feed's step skips the refresh rather than wait for it (or deadlock on it).
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE (SKIP_LOCKED) {table.name}")

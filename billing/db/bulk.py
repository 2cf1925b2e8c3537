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
        null = _null_marker(frame)
        buffer = io.StringIO()
        # Lines end in \r\n so that the csv writer quotes a value holding a lone \r too (COPY
        # refuses an unquoted carriage return; a feed's cell may hold one).
        frame.to_csv(buffer, index=False, header=False, na_rep=null, lineterminator="\r\n")
        buffer.seek(0)
        cursor = conn.connection.driver_connection.cursor()
        cursor.copy_expert(
            f"COPY {table.name} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '{null}')", buffer
        )
        cursor.close()
    else:
        placeholders = ", ".join("?" for _ in columns)
        rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})", list(rows))
    return len(frame)


def _null_marker(frame: pd.DataFrame) -> str:
    """COPY's NULL string, written unquoted for missing values: ``\\N``, unless a value is that
    very text (a feed's cell may say ``\\N``: it is data, not NULL), then ``\\N\\N``, …"""
    text = [frame[name] for name in frame.columns if not pd.api.types.is_numeric_dtype(frame[name])]
    marker = "\\N"
    while any((column == marker).any() for column in text):
        marker += "\\N"
    return marker


def analyze(conn: Connection, table: Table) -> None:
    """Refresh PostgreSQL's statistics after a bulk load, so the next steps plan for its size.

    ``SKIP_LOCKED``: the lock ANALYZE takes is held to the end of the step's transaction; a
    concurrent feed's step skips the refresh rather than wait for it (or deadlock on it).
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE (SKIP_LOCKED) {table.name}")

"""What the warehouse files look like: which tables, where each hour goes, and the Arrow types.

``$BILLING_HOME/warehouse/<table>/hour=<YYYY-MM-DDTHH>Z.parquet`` holds the rows of ``<table>``
whose ``changed_at`` falls in that UTC hour, then its tombstones, each ordered by time and key.
File names are UTC hours (the partition keys are America/Chicago hours, which repeat when
daylight saving time ends). A row is the source row, all columns, plus ``_deleted`` (false); a
tombstone is the key, ``changed_at`` = the time of deletion, ``_deleted`` true, other columns
null.

Money is Parquet ``decimal128(38, 12)``: exact, typed for the warehouse's readers, the same
type in every file (a per-file scale would not concatenate). The source's amounts are rounded
to minor units and its volumes and rates have far fewer than 12 decimals; a value that would
need more is refused with its table, hour and column, never rounded.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
from sqlalchemy import BigInteger, Column, Date, DateTime, Integer, Table

from billing.db.money import Money
from billing.db.schema import accounts, bill, bill_chg, contracts, payment

# Exported in this order: customers, contracts, charges, bills, payments.
EXPORTED: dict[str, Table] = {table.name: table for table in (accounts, contracts, bill_chg, bill, payment)}
MONEY = pa.decimal128(38, 12)
DELETED = "_deleted"


def key_of(table: Table) -> Column:
    """The one-column primary key of an exported table."""
    (key,) = table.primary_key.columns
    return key


def _arrow_type(column: Column) -> pa.DataType:
    kind = column.type
    if isinstance(kind, Money):
        return MONEY
    if isinstance(kind, (Integer, BigInteger)):
        return pa.int64()
    if isinstance(kind, DateTime):
        return pa.timestamp("us", tz="UTC")
    if isinstance(kind, Date):
        return pa.date32()
    return pa.string()


def arrow_schema(table: Table) -> pa.Schema:
    """The Parquet schema of ``table``'s files: its columns, then ``_deleted``."""
    return pa.schema([pa.field(c.name, _arrow_type(c)) for c in table.columns] + [pa.field(DELETED, pa.bool_())])


def hour_name(hour_utc: datetime) -> str:
    return f"hour={hour_utc:%Y-%m-%dT%H}Z"


def hour_file(folder: Path, table: str, hour_utc: datetime) -> Path:
    """The file of ``table`` for the UTC hour starting at ``hour_utc``."""
    return folder / table / f"{hour_name(hour_utc)}.parquet"

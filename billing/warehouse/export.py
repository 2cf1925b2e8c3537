"""EDW synchronization (the seed's "Data Synchronization Batch": incremental,
timestamp-based change detection, source wins on conflict), one UTC hour at a time.

The rows of an exported table whose ``changed_at`` falls in ``[hour, hour + 1)``, then the
tombstones of its rows deleted in that hour (``warehouse_deletion``), are read in chunks from
one snapshot of the billing database and streamed to the hour's Parquet file (written under a
temporary name, then renamed over the old one) and, when a warehouse database is configured,
applied to it in one transaction per table (billing/warehouse/target.py). Re-running an hour
writes the same file again and changes nothing in the warehouse database; an hour with nothing
left to export has no file.

The stamps are the database's (billing/db/change_tracking.py). A transaction is stamped when
it starts (PostgreSQL) but seen when it commits: a change still uncommitted when its hour is
exported reaches the warehouse when that hour runs again — the seed's schedule, 15 minutes
past the hour, leaves that much time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Column, Connection, Engine, String, Table, and_, select, type_coerce

from billing.db.engine import make_engine, same_database
from billing.db.schema import warehouse_deletion
from billing.errors import BillingError
from billing.warehouse.layout import EXPORTED, arrow_schema, hour_file, hour_name, key_of
from billing.warehouse.target import WarehouseDatabase

CHUNK_ROWS = 10_000


class WarehouseExportError(BillingError):
    """An hour of a table that could not be exported; nothing of it was kept."""


@dataclass(frozen=True)
class TableExport:
    """What one table's hour gave: rows, tombstones and the file (None when there was nothing)."""

    table: str
    rows: int
    tombstones: int
    file: Path | None


def _in_hour(conn: Connection, column: Column, start: datetime):
    """``column`` (a UTC time) in ``[start, start + 1 h)``. SQLite keeps times as text, either
    ``YYYY-MM-DD HH:MM:SS`` (the triggers) or with ``.ffffff`` (SQLAlchemy): whole-hour bounds
    in the short form sort both correctly."""
    end = start + timedelta(hours=1)
    if conn.dialect.name == "sqlite":
        column = type_coerce(column, String)
        start, end = (f"{moment:%Y-%m-%d %H}:00:00" for moment in (start, end))
    return and_(column >= start, column < end)


def _chunks(conn: Connection, query) -> Iterator[list]:
    """The rows of ``query`` in chunks of the connection's ``yield_per`` (export_hour's chunk_rows)."""
    result = conn.execution_options(stream_results=True).execute(query)
    yield from result.partitions()


def _batches(conn: Connection, table: Table, start: datetime) -> Iterator[tuple[list[list], bool]]:
    """The hour's rows then tombstones of ``table``, chunk by chunk, as columns of the file schema."""
    key = key_of(table)
    rows = select(*table.c).where(_in_hour(conn, table.c.changed_at, start)).order_by(table.c.changed_at, key)
    for chunk in _chunks(conn, rows):
        yield [*map(list, zip(*chunk, strict=True)), [False] * len(chunk)], False
    log = warehouse_deletion.c
    gone = (select(log.row_key, log.deleted_at)
            .where(log.table_name == table.name, _in_hour(conn, log.deleted_at, start))
            .order_by(log.deleted_at, log.row_key))
    typed = key.type.python_type
    for chunk in _chunks(conn, gone):
        values = {key.name: [typed(row_key) for row_key, _ in chunk], "changed_at": [at for _, at in chunk]}
        yield [values.get(c.name, [None] * len(chunk)) for c in table.columns] + [[True] * len(chunk)], True


def _record_batch(columns: list[list], schema: pa.Schema, table: str, start: datetime) -> pa.RecordBatch:
    arrays = []
    for values, field in zip(columns, schema, strict=True):
        try:
            arrays.append(pa.array(values, type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as bad:
            raise WarehouseExportError(
                f"{table} {hour_name(start)}: column {field.name} cannot be written as {field.type} ({bad}); "
                "nothing of this table and hour was exported. Correct the value in the billing database (or "
                f"widen the type in billing/warehouse/layout.py), then run the hour again.") from None
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _export_table(conn: Connection, table: Table, start: datetime, folder: Path,
                  target: WarehouseDatabase | None) -> TableExport:
    schema = arrow_schema(table)
    path = hour_file(folder, table.name, start)
    partial = path.with_name(path.name + ".partial")
    counts = {False: 0, True: 0}
    writer = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with target.applying(table.name) if target else nullcontext() as apply:
            for columns, tombstones in _batches(conn, table, start):
                batch = _record_batch(columns, schema, table.name, start)
                writer = writer or pq.ParquetWriter(partial, schema)
                writer.write_batch(batch)
                if apply:
                    apply(batch, tombstones)
                counts[tombstones] += batch.num_rows
        if writer is None:
            path.unlink(missing_ok=True)  # what was there has changed again since: a later hour has it
            return TableExport(table.name, 0, 0, None)
        writer.close()
        os.replace(partial, path)
    except OSError as failed:
        raise WarehouseExportError(
            f"{table.name} {hour_name(start)}: cannot write {path} ({failed}); nothing of this table and hour "
            "was kept. Make the warehouse folder writable (and not full), then run the hour again.") from None
    finally:
        if writer is not None and writer.is_open:
            writer.close()
        partial.unlink(missing_ok=True)
    return TableExport(table.name, counts[False], counts[True], path)


def export_hour(source: Engine, folder: Path, hour: datetime, tables: tuple[str, ...] = tuple(EXPORTED),
                warehouse_url: str | None = None, chunk_rows: int = CHUNK_ROWS) -> list[TableExport]:
    """Export the UTC hour starting at ``hour`` (an aware time on the hour) of ``tables`` to
    ``folder`` (``$BILLING_HOME/warehouse``), and to the warehouse database when ``warehouse_url``
    is given, reading ``chunk_rows`` rows at a time (``database_config.transaction_settings.
    batch_size``). Idempotent: a re-run with the same chunk size writes the same files and
    changes nothing in that database."""
    if hour.tzinfo is None or (hour.minute, hour.second, hour.microsecond) != (0, 0, 0):
        raise ValueError(f"an EDW export hour is an aware time on the hour, not {hour!r}")
    start = hour.astimezone(timezone.utc)
    target_engine = None
    if warehouse_url:
        if same_database(warehouse_url, source.url):
            raise WarehouseExportError("BILLING_WAREHOUSE_URL names the billing database itself; point it at the "
                                       "warehouse database (or unset it to write Parquet files only).")
        target_engine = make_engine(warehouse_url)
    try:
        target = WarehouseDatabase(target_engine) if target_engine else None
        # One snapshot for every table of the hour (PostgreSQL; SQLite reads in one transaction anyway).
        options = {"isolation_level": "REPEATABLE READ"} if source.dialect.name == "postgresql" else {}
        with source.connect().execution_options(**options, yield_per=chunk_rows) as conn, conn.begin():
            return [_export_table(conn, EXPORTED[name], start, folder, target) for name in tables]
    finally:
        if target_engine is not None:
            target_engine.dispose()

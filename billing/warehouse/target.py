"""The second database of the EDW export (``BILLING_WAREHOUSE_URL``): same-named tables, source wins.

Each exported table (columns as in the billing database, the key its only constraint) plus its
own ``warehouse_deletion``, the tombstones it has applied. Applying an hour is order-free, so
that hours can be re-run or backfilled in any order and still converge on the source:

* a row version is written when it is newer than the row there (``changed_at``) and not older
  than a tombstone of its key — a re-run, or an older hour run late, changes nothing;
* a tombstone is kept (its latest time per key) and deletes the row when the row is older.

On equal times the row wins: both came from one source transaction (PostgreSQL stamps a
transaction's changes with its start time), and the row exists, so it was written last.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pyarrow as pa
from sqlalchemy import Column, Engine, MetaData, String, Table, cast, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from billing.db.schema import warehouse_deletion
from billing.db.timestamps import as_utc
from billing.warehouse.layout import DELETED, EXPORTED, key_of

WAREHOUSE_URL_ENV = "BILLING_WAREHOUSE_URL"
_INSERT = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def warehouse_url() -> str | None:
    """The warehouse database, when one is configured (``BILLING_WAREHOUSE_URL``)."""
    return os.environ.get(WAREHOUSE_URL_ENV) or None


def _warehouse_metadata() -> MetaData:
    metadata = MetaData()
    for name, table in EXPORTED.items():
        Table(name, metadata, *(Column(c.name, c.type, primary_key=c.primary_key, autoincrement=False)
                                for c in table.columns))
    warehouse_deletion.to_metadata(metadata)
    return metadata


class WarehouseDatabase:
    """The warehouse tables of one engine, created on first use."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.metadata = _warehouse_metadata()
        self.metadata.create_all(engine)

    @contextmanager
    def applying(self, table: str) -> Iterator[Callable[[pa.RecordBatch, bool], None]]:
        """One transaction for one table and hour: yields ``apply(batch, tombstones)``."""
        target, log = self.metadata.tables[table], self.metadata.tables[warehouse_deletion.name]
        with self.engine.begin() as conn:
            yield lambda batch, tombstones: (_delete if tombstones else _upsert)(conn, target, log, batch)


def _upsert(conn, table: Table, log: Table, batch: pa.RecordBatch) -> None:
    key = key_of(table)
    rows = batch.drop_columns([DELETED]).to_pylist()
    deleted = dict(conn.execute(select(log.c.row_key, log.c.deleted_at).where(
        log.c.table_name == table.name, log.c.row_key.in_([str(row[key.name]) for row in rows]))).all())
    if deleted:  # a version older than its key's deletion stays deleted
        rows = [row for row in rows if as_utc(deleted.get(str(row[key.name]), row["changed_at"])) <= row["changed_at"]]
    if not rows:
        return
    statement = _INSERT[conn.dialect.name](table)
    conn.execute(statement.on_conflict_do_update(
        index_elements=[key.name],
        set_={c.name: statement.excluded[c.name] for c in table.columns if c is not key},
        where=table.c.changed_at < statement.excluded.changed_at,
    ), rows)


def _delete(conn, table: Table, log: Table, batch: pa.RecordBatch) -> None:
    key = key_of(table)
    keys = batch.column(key.name).to_pylist()
    statement = _INSERT[conn.dialect.name](log)
    conn.execute(statement.on_conflict_do_update(
        index_elements=[log.c.table_name, log.c.row_key],
        set_={"deleted_at": statement.excluded.deleted_at},
        where=log.c.deleted_at < statement.excluded.deleted_at,
    ), [{"table_name": table.name, "row_key": str(k), "deleted_at": t}
        for k, t in zip(keys, batch.column("changed_at").to_pylist(), strict=True)])
    deletion = select(log.c.deleted_at).where(log.c.table_name == table.name,
                                              log.c.row_key == cast(key, String)).scalar_subquery()
    conn.execute(delete(table).where(key.in_(keys), table.c.changed_at < deletion))

"""The warehouse as the Parquet files say it is: the latest version of each key across the hour
files of a table, deleted keys left out — what the warehouse database holds, for tests and for
operators who read the files alone.

Whatever order the hours were exported or re-run in, the latest ``changed_at`` wins; on equal
times the row wins over the tombstone (see billing/warehouse/target.py). The whole history of
the table is read: fine for checks and small tables; a warehouse engine reading the folder is
the tool for large ones.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from billing.warehouse.layout import DELETED, EXPORTED, arrow_schema, key_of

_ORDER = "_order"


def warehouse_state(folder: Path, table: str) -> pa.Table:
    """The current rows of ``table`` in ``folder`` (``$BILLING_HOME/warehouse``), by key."""
    schema = arrow_schema(EXPORTED[table])
    key = key_of(EXPORTED[table]).name
    files = sorted((folder / table).glob("hour=*.parquet"))
    if not files:
        return schema.empty_table().drop_columns([DELETED])
    history = pa.concat_tables([pq.read_table(file, schema=schema) for file in files])
    ordered = history.sort_by([(key, "ascending"), ("changed_at", "ascending"), (DELETED, "descending")])
    ordered = ordered.append_column(_ORDER, pa.array(range(ordered.num_rows), pa.int64()))
    last = ordered.group_by(key, use_threads=False).aggregate([(_ORDER, "max")])
    latest = ordered.take(last[f"{_ORDER}_max"]).sort_by(key)
    return latest.filter(pc.invert(latest[DELETED])).drop_columns([DELETED, _ORDER])

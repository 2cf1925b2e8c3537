"""EDW synchronization (issue 7, item 8; the seed's "Data Synchronization Batch"), partitioned
by hour (America/Chicago keys), one asset per sync operation the seed lists — customer,
contract, billing and payment data — so that each shows its own rows, files and failures, and
one can be re-run alone.

Each asset exports its tables' rows changed in the partition's hour, and the tombstones of rows
deleted in it, to ``$BILLING_HOME/warehouse/<table>/hour=<UTC hour>Z.parquet`` and, when
``BILLING_WAREHOUSE_URL`` names a warehouse database, upserts them there (source wins). Every
run is idempotent: re-running an hour rewrites the same files and changes nothing else.
"""

from datetime import timezone
from decimal import Decimal

import pyarrow.parquet as pq
from dagster import AssetExecutionContext, AssetsDefinition, Failure, MaterializeResult, MetadataValue, asset

from billing.errors import BillingError
from billing.tfm.report import markdown_table
from billing.warehouse.export import TableExport, export_hour
from billing.warehouse.layout import hour_name
from billing_assets.partitions import hours_partitions
from resources import BillingDatabase, FeedInbox, Warehouse

GROUP = "warehouse"
PREVIEW_ROWS = 5


def _cell(value) -> str:
    """A preview cell: decimals without the file's twelve places of scale."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return "" if value is None else str(value)


def _metadata(exports: list[TableExport], home, hour: str, target: bool) -> dict:
    metadata = {
        "hour_utc": hour,
        "warehouse_database": "BILLING_WAREHOUSE_URL" if target else "none (Parquet files only)",
        "files_written": sum(export.file is not None for export in exports),
        "exported": MetadataValue.md(markdown_table([
            {"table": e.table, "rows": e.rows, "tombstones": e.tombstones,
             "file": e.file.relative_to(home).as_posix() if e.file else "none: nothing changed"} for e in exports])),
    }
    for export in exports:
        metadata[f"{export.table}_rows"] = export.rows
        metadata[f"{export.table}_tombstones"] = export.tombstones
        if export.file is not None:
            head = pq.ParquetFile(export.file).read_row_group(0).slice(0, PREVIEW_ROWS).to_pylist()
            metadata[f"{export.table}_preview"] = MetadataValue.md(markdown_table(
                [{name: _cell(value) for name, value in row.items()} for row in head]))
    return metadata


def sync_asset(name: str, tables: tuple[str, ...], what: str) -> AssetsDefinition:
    """The hourly asset of the seed's sync operation ``name``, over ``tables``."""

    @asset(name=name, partitions_def=hours_partitions, group_name=GROUP, tags={"seed_batch": name},
           description=f"{name}: {what} changed in the hour ({', '.join(tables)}: rows and tombstones) to "
           "warehouse/<table>/hour=<UTC hour>Z.parquet and, with BILLING_WAREHOUSE_URL, to the warehouse database "
           "(newer changed_at wins, a tombstone deletes). Incremental, timestamp-based, idempotent per hour.")
    def _sync(context: AssetExecutionContext, database: BillingDatabase, inbox: FeedInbox,
              warehouse: Warehouse) -> MaterializeResult:
        hour = context.partition_time_window.start
        paths, target = inbox.paths(), warehouse.database_url()
        try:
            batch_size = inbox.operations_config().database_config.transaction_settings.batch_size
            exports = export_hour(database.engine(), paths.warehouse, hour, tables, target, chunk_rows=batch_size)
        except BillingError as bad:
            raise Failure(description=f"{context.partition_key}: {bad}", allow_retries=False) from None
        return MaterializeResult(metadata=_metadata(exports, paths.home, hour_name(hour.astimezone(timezone.utc)),
                                                     target is not None))

    return _sync


customer_data_sync = sync_asset("customer_data_sync", ("accounts",), "the customers (accounts)")
contract_data_sync = sync_asset("contract_data_sync", ("contracts",), "the contracts")
billing_data_sync = sync_asset("billing_data_sync", ("bill_chg", "bill"), "the charges and bills")
payment_data_sync = sync_asset("payment_data_sync", ("payment",), "the payments")

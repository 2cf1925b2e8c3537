"""The EDW export (issue 7, item 8): hourly, incremental, timestamp-based synchronization of
customers, contracts, charges, bills and payments to Parquet files and, when configured, to a
warehouse database — ``layout`` (files and types), ``export`` (one hour), ``target`` (the
warehouse database), ``state`` (the current warehouse as the files say)."""

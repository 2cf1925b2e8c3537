"""Partitions: one dynamic partition per feed, keyed by its ``header_id``; one daily
partition per business day for the close of day and the account validation; one per hour for
the warehouse export."""

from dagster import DailyPartitionsDefinition, DynamicPartitionsDefinition, HourlyPartitionsDefinition

from billing.settings import BUSINESS_TIMEZONE

feeds_partitions = DynamicPartitionsDefinition(name="feeds")

# The first business day the platform can close (days before it are not partitions). The
# current day is a partition too (end_offset=1): an operator may close today once its
# business is done; the nightly schedule closes the day just ended.
CLOSEOFDAY_START = "2025-01-01"
days_partitions = DailyPartitionsDefinition(start_date=CLOSEOFDAY_START, timezone=BUSINESS_TIMEZONE, end_offset=1)

# One dynamic partition per payment file of inbox/payments, keyed by its name and content hash.
payment_files_partitions = DynamicPartitionsDefinition(name="payment_files")

# The EDW export: one partition per hour (America/Chicago keys; the domain works in UTC), from
# the first day of the year change tracking came in (migration 0008).
WAREHOUSE_START = "2026-01-01-00:00"
hours_partitions = HourlyPartitionsDefinition(start_date=WAREHOUSE_START, timezone=BUSINESS_TIMEZONE)

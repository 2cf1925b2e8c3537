"""Partitions: one dynamic partition per feed, keyed by its ``header_id``; one daily
partition per business day for the close of day."""

from dagster import DailyPartitionsDefinition, DynamicPartitionsDefinition

from billing.settings import BUSINESS_TIMEZONE

feeds_partitions = DynamicPartitionsDefinition(name="feeds")

# The first business day the platform can close (days before it are not partitions). The
# current day is a partition too (end_offset=1): an operator may close today once its
# business is done; the nightly schedule closes the day just ended.
CLOSEOFDAY_START = "2025-01-01"
days_partitions = DailyPartitionsDefinition(start_date=CLOSEOFDAY_START, timezone=BUSINESS_TIMEZONE, end_offset=1)

# One dynamic partition per payment file of inbox/payments, keyed by its name and content hash.
payment_files_partitions = DynamicPartitionsDefinition(name="payment_files")

"""Partitions: one dynamic partition per feed, keyed by its ``header_id``."""

from dagster import DynamicPartitionsDefinition

feeds_partitions = DynamicPartitionsDefinition(name="feeds")

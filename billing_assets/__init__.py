"""Dagster assets, asset checks and partitions: thin wrappers over the ``billing`` core."""

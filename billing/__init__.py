"""Billing domain core: schema, reference data, feed parsing and the TFM batch steps.

Nothing in this package imports Dagster; the Dagster layer (``billing_assets``, ``jobs``,
``sensors``, ``resources``) wraps these functions so they stay unit-testable on their own.
"""

"""Effective pricing (C1-TXNRP): unpartitioned, refreshed when reference data changes."""

from dagster import MaterializeResult, asset

from billing.tfm.pricing import refresh_effective_pricing
from resources import BillingDatabase


@asset(
    group_name="pricing",
    tags={"seed_batch": "C1-TXNRP"},
    description="Refresh pricing (C1-TXNRP): ACCOUNT, PERSON and PRICE_LIST pricing flattened onto accounts, "
    "so that pricing verification is one join. Rebuilt after every reference data load.",
)
def effective_pricing(database: BillingDatabase) -> MaterializeResult:
    with database.engine().begin() as conn:
        counts = refresh_effective_pricing(conn)
    return MaterializeResult(metadata={f"rows_{scope.lower()}": n for scope, n in counts.items()})

"""The rollback graph (C1-TXNRB): errored or ignored transactions back to staging, so that
the next aggregation run of their feeds processes them against the reference data as it is
now (the re-aggregation sensor launches it; ``billing rollback`` runs it itself)."""

from typing import Optional

from dagster import AssetExecutionContext, Config, MaterializeResult, MetadataValue, asset

from billing.tfm.rollback import RollbackFilter, roll_back
from billing_assets.aggregation import aggregation_cleanup
from billing_assets.failures import config_date, refused_as_failure
from resources import BillingDatabase

GROUP = "rollback"


class RollbackConfig(Config):
    """C1-TXNRB parameters (DESIGN §6): the status is mandatory, the rest narrow it down."""

    status: str = "EROR"  # EROR or IGNR
    feed: Optional[str] = None  # header_id
    source: Optional[str] = None
    division: Optional[str] = None
    from_date: Optional[str] = None  # YYYY-MM-DD, transaction date
    to_date: Optional[str] = None


def rollback_filter(config: RollbackConfig) -> RollbackFilter:
    return refused_as_failure(lambda: RollbackFilter(
        config.status, config.feed, config.source, config.division,
        config_date("from_date", config.from_date), config_date("to_date", config.to_date)))


@asset(
    group_name=GROUP,
    deps=[aggregation_cleanup],
    tags={"seed_batch": "C1-TXNRB"},
    description="Rollback (C1-TXNRB): EROR (or IGNR) transactions matching the parameters back to staging UPLD; "
    "their legs, calculation lines, exceptions and rollback entries removed — legs already COMP/IGNR of an EROR "
    "transaction kept aside. The re-aggregation sensor then runs the aggregation job of each feed listed.",
)
def rolled_back_transactions(context: AssetExecutionContext, config: RollbackConfig,
                             database: BillingDatabase) -> MaterializeResult:
    chosen = rollback_filter(config)
    with database.engine().begin() as conn:
        result = roll_back(conn, chosen)
    context.log.info(f"{result.transactions} transactions rolled back in {len(result.feeds)} feeds")
    return MaterializeResult(metadata={
        "status": chosen.status, "transactions_rolled_back": result.transactions,
        "legs_deleted": result.legs_deleted, "legs_kept_aside": result.legs_kept,
        "feeds_to_reaggregate": MetadataValue.md("\n".join(f"- `{feed}`" for feed in result.feeds) or "none"),
    })

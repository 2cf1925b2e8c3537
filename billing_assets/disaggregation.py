"""The disaggregation graph — re-rating after a pricing change (DESIGN §6): C1-DISTG →
C1-BSEGD → C1-PNBD → C1-IDENT → C1-PDTXN → C1-TXNCU (``DISAGG``) → C1-DARSU.

Only the first step takes parameters (the from-date and the accounts' filters): it writes
the requests, and every later step works from the pending requests, as the seed's batches
do. The transactions taken apart wait in staging; the re-aggregation sensor (or ``billing
disaggregate`` itself) runs their feeds' aggregation at the new prices, and the close of day
of each deleted pending bill's date is run again to bill its account afresh.
"""

from typing import Optional

from dagster import AllPartitionMapping, AssetDep, Config, MaterializeResult, asset

from billing.tfm.disaggregation import (
    DisaggregationScope,
    clean_up_charges,
    complete_requests,
    create_requests,
    delete_pending_bill_segments,
    delete_pending_bills,
    identify_legs,
    process_transactions,
)
from billing_assets.aggregation import aggregation_cleanup
from billing_assets.closeofday import pending_bills
from billing_assets.failures import config_date, step_in_transaction
from billing_assets.pools import CHARGES_POOL
from resources import BillingDatabase

GROUP = "disaggregation"


class DisaggregationConfig(Config):
    """C1-DISTG parameters. Without a from_date no request is created and the run processes
    the requests already pending (as the pricing-change sensor leaves them)."""

    from_date: Optional[str] = None  # YYYY-MM-DD: transactions dated on or after it are re-rated
    division: Optional[str] = None
    person: Optional[str] = None
    account: Optional[str] = None
    bill_cycle: Optional[str] = None


@asset(
    group_name=GROUP,
    deps=[aggregation_cleanup, "effective_pricing"],
    tags={"seed_batch": "C1-DISTG"},
    description="Disaggregation request creation (C1-DISTG): one PENDING request per account in scope with "
    "processed legs dated on or after the from-date, unless one is pending already.",
)
def disaggregation_requests(config: DisaggregationConfig, database: BillingDatabase) -> MaterializeResult:
    from_dt = config_date("from_date", config.from_date)
    created = 0
    if from_dt is not None:
        scope = DisaggregationScope(from_dt, config.division, config.person, config.account, config.bill_cycle)
        with database.engine().begin() as conn:
            created = create_requests(conn, scope)
    return MaterializeResult(metadata={"requests_created": created, "from_date": config.from_date or "none"})


@asset(
    group_name=GROUP,
    deps=[disaggregation_requests, AssetDep(pending_bills, partition_mapping=AllPartitionMapping())],
    tags={"seed_batch": "C1-BSEGD"},
    description="Pending bill segments deletion (C1-BSEGD, DISAGG): the pending bills of the requests' accounts "
    "listed in deleted_bill and their FREEZABLE/ERROR segments deleted.",
)
def disagg_bill_segments_deleted(database: BillingDatabase) -> MaterializeResult:
    return step_in_transaction(database, delete_pending_bill_segments)


@asset(
    group_name=GROUP,
    deps=[disagg_bill_segments_deleted],
    tags={"seed_batch": "C1-PNBD"},
    description="Pending bill deletion (C1-PNBD, DISAGG): listed bills left without FROZEN/PENDING_CANCEL/"
    "CANCELED segments deleted; their day's close of day, run again, bills the accounts afresh.",
)
def disagg_pending_bills_deleted(database: BillingDatabase) -> MaterializeResult:
    return step_in_transaction(database, delete_pending_bills)


@asset(
    group_name=GROUP,
    deps=[disagg_pending_bills_deleted],
    tags={"seed_batch": "C1-IDENT"},
    description="Identify transactions for disaggregation (C1-IDENT): the requests' legs dated on or after the "
    "from-date whose charges are not on a FROZEN/PENDING_CANCEL segment (aggregated charges whole), each with "
    "its charge action DELETE, CANCEL or NO_ACTION.",
)
def disaggregated_legs(database: BillingDatabase) -> MaterializeResult:
    return step_in_transaction(database, identify_legs)


@asset(
    pool=CHARGES_POOL,
    group_name=GROUP,
    deps=[disaggregated_legs],
    tags={"seed_batch": "C1-PDTXN"},
    description="Process non-aggregated transactions (C1-PDTXN): non-aggregated charges deleted or cancelled; "
    "identified legs deleted with their calculation lines; their transactions back to staging UPLD, their "
    "other legs kept aside.",
)
def disaggregated_transactions(database: BillingDatabase) -> MaterializeResult:
    return step_in_transaction(database, process_transactions)


@asset(
    pool=CHARGES_POOL,
    group_name=GROUP,
    deps=[disaggregated_transactions],
    tags={"seed_batch": "C1-TXNCU"},
    description="Clean up (C1-TXNCU, request type DISAGG): identified aggregated charges deleted (DELETE) or "
    "cancelled (CANCEL), with their calculation lines.",
)
def disaggregated_charges(database: BillingDatabase) -> MaterializeResult:
    return step_in_transaction(database, clean_up_charges)


@asset(
    group_name=GROUP,
    deps=[disaggregated_charges],
    tags={"seed_batch": "C1-DARSU"},
    description="Update disaggregation request status (C1-DARSU): requests with nothing left to process "
    "COMPLETE. The invariant checks run on this asset.",
)
def completed_disaggregation(database: BillingDatabase) -> MaterializeResult:
    return step_in_transaction(database, lambda conn: {"requests_completed": complete_requests(conn)})

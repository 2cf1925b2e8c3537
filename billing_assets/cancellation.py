"""The cancellation graph of a feed partition: C1-DELBL → C1-TXNCU (``CNCL``) → C1-TXCNC.

Launched by ``billing feed cancel``, by a cancellation request file in the inbox (the
cancellation sensor), or from the UI by materializing these assets for the feed's partition.
Refused — nothing changed — while the feed's charges are on an invoiced bill, and while an
earlier run is aggregating the feed (``feed_exclusion``).
"""

from collections.abc import Callable

from dagster import AllPartitionMapping, AssetDep, AssetExecutionContext, MaterializeResult, asset
from sqlalchemy import Connection

from billing.tfm.cancellation import cancel_charges, cancel_feed, delete_pending_bills
from billing_assets.aggregation import aggregation_cleanup, feed_metadata
from billing_assets.closeofday import pending_bills
from billing_assets.failures import step_in_transaction
from billing_assets.feed_exclusion import refuse_while_aggregating
from billing_assets.partitions import feeds_partitions
from billing_assets.pools import CHARGES_POOL
from resources import BillingDatabase

GROUP = "cancellation"


def _cancellation_step(context: AssetExecutionContext, database: BillingDatabase,
                       step: Callable[[Connection, str], dict]) -> MaterializeResult:
    """``step(conn, header_id)`` in one transaction, once no earlier run is aggregating the feed."""
    header_id = context.partition_key
    refuse_while_aggregating(context, [header_id])
    return step_in_transaction(database, lambda conn: step(conn, header_id))


@asset(
    partitions_def=feeds_partitions,
    group_name=GROUP,
    deps=[aggregation_cleanup, AssetDep(pending_bills, partition_mapping=AllPartitionMapping())],
    tags={"seed_batch": "C1-DELBL"},
    description="Pending bill deletion (C1-DELBL): refuses the cancellation when the feed's charges are on a "
    "COMPLETE bill or a FROZEN/PENDING_CANCEL segment; otherwise the pending bills holding them are deleted with "
    "their segments (listed in deleted_bill, rebuilt when their day's close of day runs again).",
)
def feed_bills_deleted(context: AssetExecutionContext, database: BillingDatabase) -> MaterializeResult:
    return _cancellation_step(context, database, delete_pending_bills)


@asset(
    pool=CHARGES_POOL,
    partitions_def=feeds_partitions,
    group_name=GROUP,
    deps=[feed_bills_deleted],
    tags={"seed_batch": "C1-TXNCU"},
    description="Clean up (C1-TXNCU, request type CNCL): the feed's legs leave their charges; its non-aggregated "
    "charges are deleted, aggregated charges recomputed from other feeds' legs, deleted when none is left.",
)
def feed_charges_cancelled(context: AssetExecutionContext, database: BillingDatabase) -> MaterializeResult:
    return _cancellation_step(context, database, cancel_charges)


@asset(
    partitions_def=feeds_partitions,
    group_name=GROUP,
    deps=[feed_charges_cancelled],
    tags={"seed_batch": "C1-TXCNC"},
    description="Cancellation (C1-TXCNC): the feed's legs deleted with their calculation lines; the feed and all "
    "its transactions, staged ones included, CNCL; exceptions and rollback entries removed.",
)
def cancelled_feed(context: AssetExecutionContext, database: BillingDatabase) -> MaterializeResult:
    return _cancellation_step(context, database, lambda conn, header_id: {**cancel_feed(conn, header_id),
                                                                          **feed_metadata(conn, [header_id])})

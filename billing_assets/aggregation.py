"""The transaction aggregation graph (DESIGN §5), one asset per TFM batch step, partitioned
by feed. Each body calls the step for the run's feed — or for each feed of a batched run
(billing_assets/feed_batches.py) — in one database transaction per feed, and reports counts."""

from collections.abc import Sequence
from datetime import date
from typing import Optional

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)

from billing.errors import FeedRejected
from billing.feeds.intake import stage_feed, waiting_feeds
from billing.settings import business_today
from billing.tfm.charges import create_charges
from billing.tfm.cleanup import clean_up_feeds
from billing.tfm.completion import mark_completion
from billing.tfm.derive_legs import validate_and_derive
from billing.tfm.header_validation import HeaderValidationOptions, validate_header
from billing.tfm.leg_status import update_leg_statuses
from billing.tfm.pricing import verify_pricing
from billing.tfm.report import charges_by_status, legs_by_status, markdown_table, transactions_by_status
from billing.tfm.summaries import build_summaries
from billing_assets.failures import config_date
from billing_assets.feed_batches import batch_summary, combined, each_feed, feeds_of_run, feeds_transaction
from billing_assets.feed_exclusion import refuse_while_cancelling
from billing_assets.partitions import feeds_partitions
from billing_assets.pools import CHARGES_POOL
from resources import BillingDatabase, FeedInbox

GROUP = "aggregation"
CONTROL_FILE_TAG = "billing/control_file"


def feed_metadata(conn, header_ids: Sequence[str]) -> dict:
    """The feeds' transactions by status: counts, and a table with amounts."""
    by_status = transactions_by_status(conn, header_ids)
    rows = [{"status": s, "transactions": e["count"], "amount": e["amount"]} for s, e in by_status.items()]
    return {
        **{f"transactions_{s}": e["count"] for s, e in by_status.items()},
        "transactions_by_status": MetadataValue.md(markdown_table(rows)),
    }


@asset(
    partitions_def=feeds_partitions,
    group_name=GROUP,
    tags={"seed_batch": "upload"},
    description="Upload: the feed's files parsed and bulk-loaded into txn_header and txn_detail_stg (UPLD); "
    "files archived, or quarantined with a reason when unreadable.",
)
def staged_feed(context: AssetExecutionContext, database: BillingDatabase, inbox: FeedInbox) -> MaterializeResult:
    keys = feeds_of_run(context)
    refuse_while_cancelling(context, keys)
    paths = inbox.paths()
    hint = context.run.tags.get(CONTROL_FILE_TAG)
    waiting = waiting_feeds(paths) if len(keys) > 1 else None
    per_feed = {}
    for header_id in keys:
        try:
            result = stage_feed(database.engine(), paths, header_id, hint, waiting)
        except FeedRejected as rejected:
            if len(keys) == 1:
                raise Failure(description=str(rejected), allow_retries=False) from None
            context.log.error(str(rejected))  # the batch's other feeds go on
            continue
        if result.message:
            context.log.warning(f"{header_id}: {result.message}")
        per_feed[header_id] = {"status": result.status, "rows_uploaded": result.rows,
                               "uploaded_now": result.uploaded_now, "message": result.message or ""}
    return MaterializeResult(metadata=combined(per_feed))


class HeaderValidationConfig(Config):
    """C1-TXNHV options (seed defaults)."""

    checksum_validation: bool = True
    duplicate_check: bool = True
    allow_positive_volume: bool = True
    allow_negative_volume: bool = False
    allow_zero_volume: bool = False


@asset(
    partitions_def=feeds_partitions,
    group_name=GROUP,
    deps=[staged_feed],
    tags={"seed_batch": "C1-TXNHV"},
    description="Header validation (C1-TXNHV): record count and totals against the control file, duplicate "
    "feeds, allowed volume signs. VALI, or the feed and all its transactions INVL with the reason.",
)
def validated_header(context: AssetExecutionContext, config: HeaderValidationConfig, database: BillingDatabase):
    options = HeaderValidationOptions(**config.model_dump())

    def step(conn, header_id: str) -> dict:
        result = validate_header(conn, header_id, options)
        return {"status": result.status, "message": result.message or "", "file_record_count": result.record_count,
                "file_total_amount": str(result.total_amount), "file_total_volume": str(result.total_volume)}

    return MaterializeResult(metadata=combined(each_feed(context, database, step)))


class TransactionValidationConfig(Config):
    """C1-TXNIP parameters."""

    business_date: Optional[str] = None  # YYYY-MM-DD; default today in the business time zone


def business_date(config: TransactionValidationConfig) -> date:
    return config_date("business_date", config.business_date) or business_today()


@multi_asset(
    partitions_def=feeds_partitions,
    group_name=GROUP,
    specs=[
        AssetSpec("validated_transactions", deps=[validated_header], group_name=GROUP, tags={"seed_batch": "C1-TXNIP"},
                  description="C1-TXNIP: staged transactions due by the business date moved to txn_detail — INVL "
                  "when malformed, EROR with reasons when recoverable, else INPD."),
        AssetSpec("transaction_legs", deps=["validated_transactions"], group_name=GROUP,
                  tags={"seed_batch": "C1-TXNIP"},
                  description="C1-TXNIP: one INPD leg per rule leg of each transaction's derivation rule."),
    ],
)
def validate_transactions_and_derive_legs(
    context: AssetExecutionContext, config: TransactionValidationConfig, database: BillingDatabase
):
    day = business_date(config)
    with feeds_transaction(context, database) as (conn, feeds):
        result = validate_and_derive(conn, feeds, day)
        transactions = {"business_date": str(day), "moved": result.moved, "invalid": result.invalid,
                        "errors": result.errors, "derived": result.derived, "waiting_in_staging": result.waiting,
                        **feed_metadata(conn, feeds), **batch_summary(conn, feeds)}
        legs = {"legs_created": result.legs, **{f"legs_{s}": n for s, n in legs_by_status(conn, feeds).items()}}
    yield MaterializeResult(asset_key="validated_transactions", metadata=transactions)
    yield MaterializeResult(asset_key="transaction_legs", metadata=legs)


@asset(
    partitions_def=feeds_partitions,
    group_name=GROUP,
    deps=[AssetKey("transaction_legs")],
    tags={"seed_batch": "C1-TXNPS"},
    description="C1-TXNPS: one summary per account, price item, param value, transaction date and processing "
    "date over the feed's INPD legs.",
)
def transaction_summaries(context: AssetExecutionContext, database: BillingDatabase) -> MaterializeResult:
    with feeds_transaction(context, database) as (conn, feeds):
        return MaterializeResult(metadata={"summaries_created": build_summaries(conn, feeds),
                                           **batch_summary(conn, feeds)})


@asset(
    partitions_def=feeds_partitions,
    group_name=GROUP,
    deps=[transaction_summaries, AssetKey("effective_pricing")],
    tags={"seed_batch": "C1-TXNVP"},
    description="C1-TXNVP: each summary's price assignment on its processing date (ACCOUNT beats PERSON beats "
    "PRICE_LIST; a matching param value beats an empty one) or NO_PRICING / AMBIGUOUS_PRICING.",
)
def priced_summaries(context: AssetExecutionContext, database: BillingDatabase) -> MaterializeResult:
    with feeds_transaction(context, database) as (conn, feeds):
        outcome = verify_pricing(conn, feeds)
        return MaterializeResult(metadata={**{f"summaries_{k}": n for k, n in outcome.items()},
                                           **batch_summary(conn, feeds)})


@asset(
    partitions_def=feeds_partitions,
    group_name=GROUP,
    deps=[priced_summaries],
    tags={"seed_batch": "C1-TXNEX"},
    description="C1-TXNEX: legs EROR on pricing, contract, aggregation period or exchange rate problems, IGNR "
    "when pricing ignores them; quantities and per-leg ratings (RITX, RITA); transactions EROR / IGNR.",
)
def leg_statuses(context: AssetExecutionContext, database: BillingDatabase) -> MaterializeResult:
    with feeds_transaction(context, database) as (conn, feeds):
        legs = update_leg_statuses(conn, feeds)
        return MaterializeResult(metadata={**{f"legs_{s}": n for s, n in legs.items()}, **feed_metadata(conn, feeds),
                                           **batch_summary(conn, feeds)})


@asset(
    pool=CHARGES_POOL,
    partitions_def=feeds_partitions,
    group_name=GROUP,
    deps=[leg_statuses],
    tags={"seed_batch": "C1-TXNSQ"},
    description="C1-TXNSQ: billable charges — one per leg for non-aggregated pricing, one open charge per "
    "account, price item, param, price assignment, currency and aggregation period otherwise.",
)
def billable_charges(context: AssetExecutionContext, database: BillingDatabase) -> MaterializeResult:
    with feeds_transaction(context, database) as (conn, feeds):
        outcome = create_charges(conn, feeds)
        charges = MetadataValue.md(markdown_table(charges_by_status(conn, feeds)))
        return MaterializeResult(metadata={**outcome, "charges": charges, **batch_summary(conn, feeds)})


@asset(
    partitions_def=feeds_partitions,
    group_name=GROUP,
    deps=[billable_charges],
    tags={"seed_batch": "C1-TXNCM"},
    description="C1-TXNCM: charged legs COMP; transactions whose legs are all COMP or IGNR are COMP; the other "
    "legs of EROR transactions lose their calculation lines.",
)
def completed_transactions(context: AssetExecutionContext, database: BillingDatabase) -> MaterializeResult:
    with feeds_transaction(context, database) as (conn, feeds):
        outcome = mark_completion(conn, feeds)
        counts = {key: outcome[key] for key in ("legs_completed", "transactions_completed", "calculations_dropped")}
        return MaterializeResult(metadata=counts | feed_metadata(conn, feeds) | batch_summary(conn, feeds))


@asset(
    pool=CHARGES_POOL,
    partitions_def=feeds_partitions,
    group_name=GROUP,
    deps=[completed_transactions],
    tags={"seed_batch": "C1-TXNCU"},
    description="C1-TXNCU (request type EROR): aggregated charges recomputed from the legs they hold, empty "
    "ones deleted, the feed's summaries dropped. The invariant checks run on this asset.",
)
def aggregation_cleanup(context: AssetExecutionContext, database: BillingDatabase) -> MaterializeResult:
    with feeds_transaction(context, database) as (conn, feeds):
        return MaterializeResult(metadata={**clean_up_feeds(conn, feeds), **batch_summary(conn, feeds)})

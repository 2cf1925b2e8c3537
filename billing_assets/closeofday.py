"""The close-of-day graph (DESIGN §7), partitioned by business day (America/Chicago).

Days run in order: ``pending_bills`` depends on its own previous day, so a backfill runs
days one after the other, and its body refuses a day whose previous day is not closed (the
log is in the billing database, whatever instance launches the run). ``closed_day`` logs the
day once everything before it has succeeded. Re-running a day changes nothing.
"""

from datetime import date

from dagster import (
    AssetDep,
    AssetExecutionContext,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
)

from billing.closeofday.days import DayOutOfOrder, check_in_order, record_closed
from billing.errors import BillingError
from billing.invoicing.bill_run import create_bills
from billing.invoicing.deleted_bills import mark_rebuilt
from billing.invoicing.documents import queue_documents, send_documents
from billing.invoicing.finalize import finalize_bills
from billing.invoicing.report import bill_totals, bills_of_day
from billing.tfm.report import markdown_table
from billing_assets.partitions import days_partitions
from resources import BillingDatabase, DocumentNotifier, FeedInbox

GROUP = "closeofday"
PREVIOUS_DAY = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)


def partition_day(context) -> date:
    """The business day of a close-of-day asset or check run (its partition key)."""
    return date.fromisoformat(context.partition_key)


def _bills_metadata(conn, day: date) -> dict:
    totals = bill_totals(conn, day)
    return {
        "bills_by_status": MetadataValue.md(markdown_table(
            [{"status and currency": key, **value} for key, value in totals.items()])),
        "bills_preview": MetadataValue.md(markdown_table(bills_of_day(conn, day))),
    }


@asset(
    partitions_def=days_partitions,
    group_name=GROUP,
    deps=[AssetDep("pending_bills", partition_mapping=PREVIOUS_DAY)],
    tags={"seed_batch": "DoInvoicing"},
    description="DoInvoicing: a PENDING bill for every account whose bill cycle closes on the day, one FREEZABLE "
    "segment per unbilled charge ending in (or before) the window; DNRT charges rated, other currencies "
    "converted, tax of the bill date. Refuses a day whose previous day is not closed. Run again for a day whose "
    "pending bills a cancellation or disaggregation deleted, it bills those accounts afresh.",
)
def pending_bills(context: AssetExecutionContext, database: BillingDatabase) -> MaterializeResult:
    day = partition_day(context)
    with database.engine().begin() as conn:
        try:
            check_in_order(conn, day)
        except DayOutOfOrder as refused:
            raise Failure(description=str(refused), allow_retries=False) from None
        created = create_bills(conn, day)
        rebuilt = mark_rebuilt(conn, day)
        metadata = _bills_metadata(conn, day)
    return MaterializeResult(metadata={**created, "deleted_bills_rebuilt": rebuilt, **metadata})


class FinalizeConfig(Config):
    review_days: int = 0
    """Days a pending bill waits for review before it is completed (DESIGN §7; default 0)."""


@asset(
    partitions_def=days_partitions,
    group_name=GROUP,
    deps=[pending_bills],
    tags={"seed_batch": "finalize_billing"},
    description="finalize_billing: pending bills past their review period (and with no segment in ERROR) become "
    "COMPLETE with a gap-free invoice number per division and year; their segments FROZEN.",
)
def completed_bills(context: AssetExecutionContext, config: FinalizeConfig, database: BillingDatabase
                    ) -> MaterializeResult:
    day = partition_day(context)
    with database.engine().begin() as conn:
        outcome = finalize_bills(conn, day, config.review_days)
        metadata = _bills_metadata(conn, day)
    return MaterializeResult(metadata={**outcome, "review_days": config.review_days, **metadata})


@asset(
    partitions_def=days_partitions,
    group_name=GROUP,
    deps=[completed_bills],
    tags={"seed_batch": "send_documents"},
    description="queue_billingdocs and send_documents: every completed bill and credit note rendered to HTML "
    "and sent once — by e-mail (SMTP, or .eml files in the outbox), or to the print queue when the account "
    "has no e-mail address.",
)
def invoice_documents(context: AssetExecutionContext, database: BillingDatabase, inbox: FeedInbox,
                      notifier: DocumentNotifier) -> MaterializeResult:
    paths = inbox.paths()
    with database.engine().begin() as conn:
        queued = queue_documents(conn, partition_day(context))
    try:
        outcome = send_documents(database.engine(), notifier.notifier(paths.outbox), paths.outbox / "documents")
    except BillingError as failed:
        raise Failure(description=str(failed)) from None
    return MaterializeResult(metadata={"documents_queued": queued, "documents_emailed": outcome.sent,
                                       "documents_printed": outcome.printed})


@asset(
    partitions_def=days_partitions,
    group_name=GROUP,
    deps=[invoice_documents],
    tags={"seed_batch": "closeofday"},
    description="The day closed: logged in closeofday_log (the seed's systemstate closeofday date), so the next "
    "day may run.",
)
def closed_day(context: AssetExecutionContext, database: BillingDatabase) -> MaterializeResult:
    with database.engine().begin() as conn:
        done = record_closed(conn, partition_day(context))
    return MaterializeResult(metadata=done)

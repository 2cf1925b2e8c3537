"""The close-of-day graph (DESIGN §7 and the seed's nightly batch), partitioned by business
day (America/Chicago), one asset per seed step or group of steps, in the seed's order.

Days run in order: the first step, ``checked_database``, depends on its own previous day, so a
backfill runs days one after the other, and its body (and DoInvoicing's) refuses a day whose
previous day is not closed (the log is in the billing database, whatever instance launches
the run). ``closed_day`` logs the day once everything before it has succeeded. Re-running a
day changes nothing. Each asset is a thin wrapper: it reads the policy
(``$BILLING_HOME/closeofday.yaml``), calls one domain function in one transaction and
returns its counts as metadata.
"""

from collections.abc import Callable
from datetime import date

from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    TimeWindowPartitionMapping,
    asset,
)

from billing.closeofday import balances, housekeeping, lifecycle, overdue
from billing.closeofday.days import DayOutOfOrder, check_in_order, last_closed_day, record_closed, superseded
from billing.closeofday.notices import create_notices, send_notices
from billing.closeofday.policy import CloseOfDayPolicy, load_policy
from billing.closeofday.recurring import bill_services
from billing.errors import BillingError
from billing.invoicing.bill_run import create_bills
from billing.invoicing.deleted_bills import mark_rebuilt
from billing.invoicing.documents import queue_documents, send_documents
from billing.invoicing.finalize import finalize_bills
from billing.invoicing.report import bill_totals, bills_of_day
from billing.tfm.report import markdown_table
from billing_assets.failures import refused_as_failure
from billing_assets.partitions import days_partitions
from billing_assets.pools import CHARGES_POOL
from resources import BillingDatabase, DocumentNotifier, FeedInbox

GROUP = "closeofday"
PREVIOUS_DAY = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1)


def partition_day(context) -> date:
    """The business day of a close-of-day asset or check run (its partition key)."""
    return date.fromisoformat(context.partition_key)


def _policy(inbox: FeedInbox) -> CloseOfDayPolicy:
    try:
        return load_policy(inbox.paths().home)
    except BillingError as bad:
        raise Failure(description=str(bad), allow_retries=False) from None


def _in_order(conn, day: date) -> None:
    try:
        check_in_order(conn, day)
    except DayOutOfOrder as refused:
        raise Failure(description=str(refused), allow_retries=False) from None


SUPERSEDED = {"superseded": MetadataValue.md(
    "Nothing done: this day is closed and later days are too, so its steps would put statuses and balances back to "
    "that day. (DoInvoicing, run again for deleted bills, is the exception.)")}


def _superseded(context, database: BillingDatabase) -> bool:
    """True when the day's steps have nothing to do (see SUPERSEDED); a Failure, saying what
    to run, when the day may not run yet (a step materialized on its own, out of order)."""
    day = partition_day(context)
    with database.engine().connect() as conn:
        if superseded(conn, day):
            context.log.info(f"{context.partition_key} is closed and later days too: nothing to do")
            return True
        _in_order(conn, day)
    return False


def day_step(name: str, seed_batch: str, after: list, description: str, pool: str | None = None):
    """A close-of-day asset around ``step(conn, day, policy) -> counts``, run in one
    transaction after ``after``, with the counts as metadata (nothing on a superseded day); a
    refusal (BillingError) fails it at once, without a retry."""

    def build(step: Callable[..., dict]) -> AssetsDefinition:
        @asset(name=name, partitions_def=days_partitions, group_name=GROUP, deps=after, pool=pool,
               tags={"seed_batch": seed_batch}, description=description)
        def _step(context: AssetExecutionContext, database: BillingDatabase, inbox: FeedInbox) -> MaterializeResult:
            if _superseded(context, database):
                return MaterializeResult(metadata=SUPERSEDED)
            policy = _policy(inbox)
            with database.engine().begin() as conn:
                counts = refused_as_failure(lambda: step(conn, partition_day(context), policy))
            return MaterializeResult(metadata=counts)

        return _step

    return build


@asset(
    partitions_def=days_partitions,
    group_name=GROUP,
    deps=[AssetDep("checked_database", partition_mapping=PREVIOUS_DAY)],
    tags={"seed_batch": "dbck"},
    description="dbck: the day may start (its previous day is closed), and its checks go over the whole database "
    "— severe problems (money that does not add up, rows that point nowhere) block the day, warnings are shown. "
    "Depends on its own previous day, so backfills close days in order.",
)
def checked_database(context: AssetExecutionContext, database: BillingDatabase) -> MaterializeResult:
    with database.engine().begin() as conn:
        _in_order(conn, partition_day(context))
        last = last_closed_day(conn)
    return MaterializeResult(metadata={"last_day_closed": str(last) if last else "none: the first day"})


@asset(
    partitions_def=days_partitions,
    group_name=GROUP,
    deps=[checked_database],
    tags={"seed_batch": "managefiles"},
    description="managefiles: archive/ and quarantine/ files gzipped, then deleted, after the days of the policy's "
    "retention (closeofday.yaml), ages counted to the business day.",
)
def managed_files(context: AssetExecutionContext, database: BillingDatabase, inbox: FeedInbox) -> MaterializeResult:
    if _superseded(context, database):
        return MaterializeResult(metadata=SUPERSEDED)
    paths = inbox.paths()
    policy = _policy(inbox)
    return MaterializeResult(metadata=refused_as_failure(
        lambda: housekeeping.manage_files(paths, partition_day(context), policy)))


@day_step("tax_rates_in_effect", "UpdateTaxRates", [managed_files],
          "UpdateTaxRates: each tax code's latest rate effective by the day put in effect (tax_rate_in_effect).")
def tax_rates_in_effect(conn, day, policy):
    return {"UpdateTaxRates": lifecycle.update_tax_rates(conn, day)}


@day_step("entity_statuses", "OpenFutureStartdateServices-ClearDiscounts", [tax_rates_in_effect],
          "OpenFutureStartdateServices, OpenDateToReOpenEntities, SuspendExpiredAccounts, CloseSuspendedAccounts, "
          "SuspendExpiredServices, CloseSuspendedServices, SuspendExpiredServdefs, ClearDiscounts: statuses moved "
          "by their dates, with a reason and day.")
def entity_statuses(conn, day, policy):
    return lifecycle.run_lifecycle(conn, day, policy)


@day_step("recurring_charges", "BillServices", [entity_statuses],
          "BillServices: a RECURRING charge per OPEN service due (next bill date ≤ day + prebill_days) for one "
          "calendar-aligned period at price less discount, prorated by days when partial; next bill date advanced. "
          "A period is billed once (unique service and period start).", pool=CHARGES_POOL)
def recurring_charges(conn, day, policy):
    return {"BillServices": bill_services(conn, day, policy.prebill_days)}


@day_step("account_balances", "UpdateStaticBalances", [recurring_charges],
          "UpdateStaticBalances, UpdateStaticPastDueBalances, ResetGraceDates: payments dated by the day settle "
          "completed bills oldest due first (bill.paid_amount); account balance and past-due balance; grace "
          "dates in the past cleared.")
def account_balances(conn, day, policy):
    counts = balances.update_balances(conn, day)
    return {**counts, "ResetGraceDates": balances.reset_grace_dates(conn, day)}


@day_step("late_fees", "AssessLateFeesByInvoice", [account_balances],
          "AssessLateFeesByInvoice: a LATE_FEE charge, once per invoice, for each completed invoice still open "
          "grace_days after its due date (percent of what is open, or flat).", pool=CHARGES_POOL)
def late_fees(conn, day, policy):
    return {"AssessLateFeesByInvoice": overdue.assess_late_fees(conn, day, policy.late_fee)}


@day_step("overdue_accounts", "SuspendOverDueAccounts", [late_fees],
          "ReopenOverDueAccounts, ReopenOverDueServices, SuspendOverDueAccounts: accounts (and their services) "
          "with an invoice open suspend_overdue_after_days past due and no grace date are SUSPENDED; reopened once "
          "paid.")
def overdue_accounts(conn, day, policy):
    return overdue.reopen_and_suspend(conn, day, policy.suspend_overdue_after_days)


@day_step("financial_activity", "SetFinactivity", [overdue_accounts],
          "SetFinactivity: accounts flagged Y when they have billable charges on no bill yet, N otherwise.")
def financial_activity(conn, day, policy):
    return {"SetFinactivity": overdue.set_finactivity(conn, day)}


def _bills_metadata(conn, day: date) -> dict:
    totals = bill_totals(conn, day)
    return {
        "bills_by_status": MetadataValue.md(markdown_table(
            [{"status and currency": key, **value} for key, value in totals.items()])),
        "bills_preview": MetadataValue.md(markdown_table(bills_of_day(conn, day))),
    }


@asset(
    pool=CHARGES_POOL,
    partitions_def=days_partitions,
    group_name=GROUP,
    deps=[financial_activity],
    tags={"seed_batch": "DoInvoicing"},
    description="DoInvoicing: a PENDING bill for every account whose bill cycle closes on the day, one FREEZABLE "
    "segment per unbilled charge ending in (or before) the window; DNRT charges rated, other currencies "
    "converted, tax of the bill date. Refuses a day whose previous day is not closed. Run again for a day whose "
    "pending bills a cancellation or disaggregation deleted, it bills those accounts afresh.",
)
def pending_bills(context: AssetExecutionContext, database: BillingDatabase) -> MaterializeResult:
    day = partition_day(context)
    with database.engine().begin() as conn:
        _in_order(conn, day)
        created = create_bills(conn, day)
        rebuilt = mark_rebuilt(conn, day)
        metadata = _bills_metadata(conn, day)
    return MaterializeResult(metadata={**created, "deleted_bills_rebuilt": rebuilt, **metadata})


@day_step("paid_services", "OpenWaitForPaymentServices", [pending_bills],
          "OpenWaitForPaymentServices: WAIT_FOR_PAYMENT services whose billed periods are paid are OPEN.")
def paid_services(conn, day, policy):
    return {"OpenWaitForPaymentServices": overdue.open_paid_services(conn, day)}


@asset(
    partitions_def=days_partitions,
    group_name=GROUP,
    deps=[paid_services],
    tags={"seed_batch": "WarnServiceExpiration-NoticeLongSuspend"},
    description="WarnServiceExpiration, WarnGraceDate (to the customer), NoticeLongSuspendAccounts and "
    "NoticeLongSuspendServices (to the operator): each notice recorded once and sent once through the notifier.",
)
def customer_notices(context: AssetExecutionContext, database: BillingDatabase, inbox: FeedInbox,
                     notifier: DocumentNotifier) -> MaterializeResult:
    if _superseded(context, database):
        return MaterializeResult(metadata=SUPERSEDED)
    policy = _policy(inbox)
    with database.engine().begin() as conn:
        created = create_notices(conn, partition_day(context), policy)
    try:
        sent = send_notices(database.engine(), notifier.notifier(inbox.paths().outbox / "notices"))
    except BillingError as failed:
        raise Failure(description=str(failed)) from None
    return MaterializeResult(metadata={**created, "notices_sent": sent})


@day_step("daily_statistics", "CollectStats", [customer_notices],
          "CollectStats: the day's figures (accounts and services by status, charges, payments, bills, "
          "receivables, notices) in daily_statistic.")
def daily_statistics(conn, day, policy):
    stats = housekeeping.collect_stats(conn, day)
    return {"statistics": MetadataValue.md(markdown_table([{"metric": m, "value": str(v)} for m, v in stats.items()]))}


@day_step("payment_info_removed", "RemovePaymentInfo", [daily_statistics],
          "RemovePaymentInfo: the payment method on file of accounts CLOSED for remove_payment_info_after_days.")
def payment_info_removed(conn, day, policy):
    return {"RemovePaymentInfo": housekeeping.remove_payment_info(conn, day, policy.remove_payment_info_after_days)}


class FinalizeConfig(Config):
    review_days: int = 0
    """Days a pending bill waits for review before it is completed (DESIGN §7; default 0)."""


@asset(
    partitions_def=days_partitions,
    group_name=GROUP,
    deps=[payment_info_removed],
    tags={"seed_batch": "finalize_billing"},
    description="finalize_billing: pending bills past their review period (and with no segment in ERROR) become "
    "COMPLETE with a gap-free invoice number per division and year; their segments FROZEN.",
)
def completed_bills(context: AssetExecutionContext, config: FinalizeConfig, database: BillingDatabase
                    ) -> MaterializeResult:
    if _superseded(context, database):
        return MaterializeResult(metadata=SUPERSEDED)
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

"""Asset jobs. They run on the in-process executor: a step per process costs ~1.5 s each
on these machines (DAGSTER_NOTES), more than most of our steps take."""

from datetime import timedelta
from zoneinfo import ZoneInfo

from dagster import (
    AssetSelection,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    in_process_executor,
    schedule,
)

from billing.settings import BUSINESS_TIMEZONE

from billing_assets.aggregation import GROUP as AGGREGATION_GROUP
from billing_assets.cancellation import GROUP as CANCELLATION_GROUP
from billing_assets.closeofday import GROUP as CLOSEOFDAY_GROUP
from billing_assets.disaggregation import GROUP as DISAGGREGATION_GROUP
from billing_assets.payments import GROUP as PAYMENTS_GROUP
from billing_assets.rollback import GROUP as ROLLBACK_GROUP

aggregation_job = define_asset_job(
    "aggregation_job",
    selection=AssetSelection.groups(AGGREGATION_GROUP),
    executor_def=in_process_executor,
    description="Transaction aggregation of one feed partition: upload → C1-TXNHV → C1-TXNIP → C1-TXNPS → "
    "C1-TXNVP → C1-TXNEX → C1-TXNSQ → C1-TXNCM → C1-TXNCU, with the invariant checks.",
)

refresh_pricing_job = define_asset_job(
    "refresh_pricing_job",
    selection=AssetSelection.assets("effective_pricing"),
    executor_def=in_process_executor,
    description="Refresh pricing (C1-TXNRP) after a reference data load.",
)

closeofday_job = define_asset_job(
    "closeofday_job",
    selection=AssetSelection.groups(CLOSEOFDAY_GROUP),
    executor_def=in_process_executor,
    description="Close of one business day, in date order and the seed's order: dbck → managefiles → "
    "UpdateTaxRates → statuses by their dates → BillServices → balances → late fees → overdue → SetFinactivity → "
    "DoInvoicing → OpenWaitForPaymentServices → notices → CollectStats → RemovePaymentInfo → finalize_billing → "
    "documents → the day logged closed, with dbck and the bill checks.",
)

payments_job = define_asset_job(
    "payments_job",
    selection=AssetSelection.groups(PAYMENTS_GROUP),
    executor_def=in_process_executor,
    description="Load one payment file of inbox/payments (launched by the payment sensor).",
)

rebuild_bills_job = define_asset_job(
    "rebuild_bills_job",
    selection=AssetSelection.assets("pending_bills"),
    executor_def=in_process_executor,
    description="DoInvoicing run again for one day whose pending bills a cancellation or a disaggregation "
    "deleted: their accounts billed afresh from the charges as they are now, with the bill checks.",
)

rollback_job = define_asset_job(
    "rollback_job",
    selection=AssetSelection.groups(ROLLBACK_GROUP),
    executor_def=in_process_executor,
    description="Rollback (C1-TXNRB) of EROR or IGNR transactions, with the invariant checks; the re-aggregation "
    "sensor then re-runs the aggregation job of each affected feed.",
)

cancellation_job = define_asset_job(
    "cancellation_job",
    selection=AssetSelection.groups(CANCELLATION_GROUP),
    executor_def=in_process_executor,
    description="Cancellation of one feed partition: C1-DELBL → C1-TXNCU (CNCL) → C1-TXCNC, with the invariant "
    "checks. Refused while the feed's charges are invoiced.",
)

disaggregation_job = define_asset_job(
    "disaggregation_job",
    selection=AssetSelection.groups(DISAGGREGATION_GROUP),
    executor_def=in_process_executor,
    description="Disaggregation (re-rating): C1-DISTG → C1-BSEGD → C1-PNBD → C1-IDENT → C1-PDTXN → C1-TXNCU "
    "(DISAGG) → C1-DARSU, with the invariant checks; re-aggregation and bill rebuilds follow.",
)


@schedule(job=closeofday_job, cron_schedule="0 1 * * *", execution_timezone=BUSINESS_TIMEZONE,
          description="Each night at 01:00 America/Chicago, close the business day that has just ended (once: "
          "the run key is the day). Off until an operator turns it on, like every Dagster schedule.")
def closeofday_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    ended = context.scheduled_execution_time.astimezone(ZoneInfo(BUSINESS_TIMEZONE)).date() - timedelta(days=1)
    return RunRequest(run_key=ended.isoformat(), partition_key=ended.isoformat())

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
from billing_assets.closeofday import GROUP as CLOSEOFDAY_GROUP

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
    description="Close of one business day, in date order: DoInvoicing → finalize_billing → the day logged "
    "closed, with the bill checks.",
)



@schedule(job=closeofday_job, cron_schedule="0 1 * * *", execution_timezone=BUSINESS_TIMEZONE,
          description="Each night at 01:00 America/Chicago, close the business day that has just ended (once: "
          "the run key is the day). Off until an operator turns it on, like every Dagster schedule.")
def closeofday_schedule(context: ScheduleEvaluationContext) -> RunRequest:
    ended = context.scheduled_execution_time.astimezone(ZoneInfo(BUSINESS_TIMEZONE)).date() - timedelta(days=1)
    return RunRequest(run_key=ended.isoformat(), partition_key=ended.isoformat())

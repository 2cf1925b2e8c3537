"""The payment sensor: each ``.csv`` in ``inbox/payments`` becomes a partition and a run of
``payments_job``. The run key is the file's name and content hash; the same bytes dropped
again after they were loaded launch nothing and are archived beside the first copy."""

from dagster import RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from billing.payments.intake import inbox_folder, retire_loaded, waiting_files
from billing_assets.partitions import payment_files_partitions
from jobs import payments_job
from resources import BillingDatabase, FeedInbox


@sensor(job=payments_job, minimum_interval_seconds=30, description="Registers each payment file in "
        "$BILLING_HOME/inbox/payments as a `payment_files` partition and launches its load.")
def payment_sensor(context: SensorEvaluationContext, inbox: FeedInbox, database: BillingDatabase):
    paths = inbox.paths()
    for path in retire_loaded(database.engine(), paths):
        context.log.info(f"{path.name} repeats a payment file already loaded: archived, not loaded again")
    keys = [key for _path, key in waiting_files(paths)]
    if not keys:
        return SkipReason(f"no payment file in {inbox_folder(paths)}")
    known = set(context.instance.get_dynamic_partitions(payment_files_partitions.name))
    new = [key for key in keys if key not in known]
    return SensorResult(
        run_requests=[RunRequest(run_key=key, partition_key=key) for key in keys],
        dynamic_partitions_requests=[payment_files_partitions.build_add_request(new)] if new else [],
    )

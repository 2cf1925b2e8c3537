"""Running the jobs from the command line, through the Dagster instance at ``$DAGSTER_HOME``,
so that every run the CLI starts is in the UI beside the sensor's and the operator's."""

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Optional

from dagster import DagsterEventType, DagsterInstance, ExecuteInProcessResult, JobDefinition, RunRequest

from billing.errors import DatabaseUnavailable
from billing.feeds.inbox import Feed, identify, submit
from billing.settings import billing_paths, dagster_home, private_folder
from billing_assets.aggregation import CONTROL_FILE_TAG
from billing_assets.partitions import feeds_partitions, payment_files_partitions


# The console shows nothing of Dagster's own logging — a failed step there comes with its stack
# trace —; the command prints the outcome itself (each failed step's message, each failed
# check). The instance's event log keeps every event for the UI.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    success: bool
    failures: list[str]


def dagster_instance() -> DagsterInstance:
    """The instance of ``$DAGSTER_HOME``; created private (0o700) when missing, as it keeps the
    runs' event logs and captured output."""
    home = private_folder(dagster_home())
    (home / "dagster.yaml").touch()  # default SQLite storage under DAGSTER_HOME
    os.environ["DAGSTER_HOME"] = str(home)
    return DagsterInstance.get()


def _defs():
    from definitions import defs

    return defs


def _outcome(result: ExecuteInProcessResult) -> RunOutcome:
    failures = []
    for event in result.all_events:
        if event.event_type == DagsterEventType.STEP_FAILURE:
            failures.append(f"{event.step_key}: {_root_message(event.step_failure_data.error)}")
        elif event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION and not event.event_specific_data.passed:
            evaluation = event.event_specific_data
            sample = evaluation.metadata.get("sample")
            failures.append(f"check {evaluation.check_name} failed" + (f": {sample.value}" if sample else ""))
    return RunOutcome(result.run_id, result.success, failures)


def _root_message(error) -> str:
    """The innermost cause: what went wrong, not Dagster's "error while executing op" wrapper;
    but a database that went away as ``DatabaseUnavailable`` says it, not as its driver does."""
    if error is None:
        return "failed"
    while error.cause is not None and error.cls_name != DatabaseUnavailable.__name__:
        error = error.cause
    if error.cls_name == DatabaseUnavailable.__name__:
        return error.message.split(": ", 1)[-1].strip()  # without the class name
    return error.message.split("\n[SQL:")[0].strip()  # SQLAlchemy appends the statement


def stage_for_processing(control_path: Path) -> Feed:
    """The feed, copied first into ``$BILLING_HOME/processing`` when it is outside
    ``BILLING_HOME`` — not into the inbox, where the sensor would launch a second run of it."""
    paths = billing_paths().ensure()
    feed = identify(control_path)
    if control_path.resolve().parent not in (paths.inbox.resolve(), paths.processing.resolve()):
        feed = identify(submit(feed.control.data_path, control_path, paths.processing))
    return feed


def run_aggregation(instance: DagsterInstance, feed: Feed, business_date: Optional[date] = None) -> RunOutcome:
    return run_feed_job(instance, "aggregation_job", feed.header_id, business_date,
                        tags={CONTROL_FILE_TAG: str(feed.control.path)})


def run_feed_job(instance: DagsterInstance, job_name: str, header_id: str, business_date: Optional[date] = None,
                 tags: Optional[dict] = None) -> RunOutcome:
    """Run a feed-partitioned job (aggregation — a re-aggregation needs no files —, or
    cancellation) for one feed, registering its partition if this instance has not seen it."""
    _register(instance, feeds_partitions.name, header_id)
    return _run(instance, job_name, _business_date_ops(business_date), partition_key=header_id, tags=tags)


def run_feed_request(instance: DagsterInstance, request: RunRequest, business_date: Optional[date] = None) -> RunOutcome:
    """Run here what the feed sensor asked the daemon for: one feed, or a batch of feeds
    (whose partitions the sensor's tick registered)."""
    return _run(instance, "aggregation_job", _business_date_ops(business_date), partition_key=request.partition_key,
                tags=dict(request.tags))


def _business_date_ops(business_date: Optional[date]) -> dict:
    if business_date is None:
        return {}
    return {"validate_transactions_and_derive_legs": {"config": {"business_date": str(business_date)}}}


def run_payment_file(instance: DagsterInstance, file_key: str) -> RunOutcome:
    """Load one payment file of ``inbox/payments`` (its partition key: name and content hash)."""
    _register(instance, payment_files_partitions.name, file_key)
    return _run(instance, "payments_job", {}, partition_key=file_key)


def _register(instance: DagsterInstance, partitions: str, key: str) -> None:
    if not instance.has_dynamic_partition(partitions, key):
        instance.add_dynamic_partitions(partitions, [key])


def run_rollback(instance: DagsterInstance, config: dict) -> RunOutcome:
    """The rollback job with the C1-TXNRB parameters of ``RollbackConfig``."""
    return _run(instance, "rollback_job", {"rolled_back_transactions": {"config": config}})


def run_disaggregation(instance: DagsterInstance, config: dict) -> RunOutcome:
    """The disaggregation job with the C1-DISTG parameters of ``DisaggregationConfig``."""
    return _run(instance, "disaggregation_job", {"disaggregation_requests": {"config": config}})


def run_bill_rebuild(instance: DagsterInstance, day: date) -> RunOutcome:
    """DoInvoicing again for a day whose pending bills were deleted."""
    return _run(instance, "rebuild_bills_job", {}, partition_key=day.isoformat())


def _run(instance: DagsterInstance, job_name: str, ops: dict, partition_key: Optional[str] = None,
         tags: Optional[dict] = None) -> RunOutcome:
    result = _without_retries(_defs().resolve_job_def(job_name)).execute_in_process(
        instance=instance, run_config={**QUIET_CONSOLE, "ops": ops}, partition_key=partition_key, tags=tags or {},
        raise_on_error=False)
    return _outcome(result)


def _without_retries(job: JobDefinition) -> JobDefinition:
    """The job as the command line runs it: a failed step fails the command at once, with
    what to fix. The operator is waiting at the terminal; the retry policy's waits (up to 55
    minutes with the seed's values) are for runs nobody watches — schedules, sensors, the UI.
    (Dagster has no public way to copy a job with another policy; ``_copy`` is its own.)"""
    return job._copy(op_retry_policy=None)


def run_pricing_refresh(instance: DagsterInstance) -> RunOutcome:
    return _run(instance, "refresh_pricing_job", {})


def run_closeofday(instance: DagsterInstance, day: date, review_days: int = 0) -> RunOutcome:
    """Close one business day (the job refuses it unless the previous day is closed)."""
    return _run(instance, "closeofday_job", {"completed_bills": {"config": {"review_days": review_days}}},
                partition_key=day.isoformat())

"""The feed sensor's circuit breaker (billing/operations/breaker.py) read from the run history:
the aggregation runs that ended since the last reset, newest first."""

from datetime import datetime, timezone

from dagster import DagsterRunStatus, RunsFilter, SensorEvaluationContext

from billing.operations.alerts import Alert
from billing.operations.breaker import (
    FAILURE_RATE_WINDOW,
    FEEDS,
    breaker_state,
    consecutive_failures,
    failure_rate_pct,
    open_breaker,
    reminder_number,
)
from resources import BillingDatabase, DocumentNotifier, FeedInbox
from sensors.alerting import alert
from sensors.runs import partitions_label, run_partitions

RESET_COMMAND = "billing breaker reset feeds"


def feed_breaker_refusal(context: SensorEvaluationContext, database: BillingDatabase, notifier: DocumentNotifier,
                         inbox: FeedInbox, job_name: str) -> str | None:
    """Why the feed sensor must not launch (its breaker is open, or opens now), else None.
    Alerts when it opens, again every circuit_breaker_timeout while it stays open, and when
    the failure rate is above failure_rate_threshold."""
    config = inbox.operations_config()
    thresholds = config.error_handling.failure_thresholds
    now = datetime.now(timezone.utc)
    with database.engine().connect() as conn:
        state = breaker_state(conn, FEEDS)
    if not state.is_open:
        runs = context.instance.get_run_records(
            filters=RunsFilter(job_name=job_name, statuses=[DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE],
                               updated_after=state.reset_at),
            order_by="update_timestamp", ascending=False, limit=FAILURE_RATE_WINDOW)
        statuses = [record.dagster_run.status.value for record in runs]
        rate = failure_rate_pct(statuses)
        if rate is not None and rate > thresholds.failure_rate_threshold:
            alert(context, database, notifier, inbox, config, Alert(
                f"failure-rate-{FEEDS}-{now:%Y-%m-%dT%H}", "batch_failure", "WARNING",
                f"{rate} % of the last {len(statuses)} aggregation runs failed",
                f"{rate} % of the last {len(statuses)} aggregation runs failed, above failure_rate_threshold "
                f"({thresholds.failure_rate_threshold} %). Look at the failed runs in the Dagster UI (Runs, "
                f"filtered on {job_name} and Failure)."))
        failed = consecutive_failures(statuses)
        if failed < thresholds.max_consecutive_failures:
            return None
        latest = runs[0].dagster_run
        reason = (f"the last {failed} {job_name} runs failed, the latest {latest.run_id} "
                  f"(feed {partitions_label(run_partitions(context.instance, latest))})")
        with database.engine().begin() as conn:
            open_breaker(conn, FEEDS, reason, now)
            state = breaker_state(conn, FEEDS)
    refusal = (f"circuit breaker '{FEEDS}' open since {state.opened_at:%Y-%m-%d %H:%M:%S} UTC: {state.reason}. "
               f"New feeds wait in the inbox. Fix the cause, then run `{RESET_COMMAND}`.")
    number = reminder_number(state, thresholds.circuit_breaker_timeout, now)
    alert(context, database, notifier, inbox, config, Alert(
        f"breaker-{FEEDS}-{state.opened_at:%Y%m%dT%H%M%S}-{number}", "batch_failure", "CRITICAL",
        f"circuit breaker '{FEEDS}' open: the feed sensor stopped launching runs", refusal))
    return refusal

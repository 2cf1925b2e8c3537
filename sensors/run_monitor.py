"""The run monitor: every run that ends is written to the batch execution log and the
performance metrics (billing/operations/metrics.py), and alerted on as batch_processing.yaml
says — a failed run (batch failure, or resource exhaustion when it reads like one), failed
data-quality checks, a run longer than execution_time_warning/critical (also while it is
still running). It also notes in the audit trail a batch_processing.yaml that changed. It is
on by default: alerts must not wait for someone to remember them.

The cursor is the update time of the last run handled and the runs handled around it (so a
burst of runs ending in the same second is gone through, not read again and again); a run
seen twice changes nothing anyway, since the log and every alert are written once per run.
"""

import json
from datetime import datetime, timezone

from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRecord,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)
from sqlalchemy import inspect

from billing.operations.alerts import Alert, failure_condition, slow_run_alert
from billing.operations.audit import note_configuration
from billing.operations.config import BatchProcessingConfig, config_path
from billing.operations.metrics import FinishedRun, record_run, run_figures
from resources import BillingDatabase, DocumentNotifier, FeedInbox
from sensors.alerting import alert, resend_unsent
from sensors.runs import partitions_label, run_partitions

ENDED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]
BATCH = 50  # runs handled per tick; the next tick goes on from the cursor
OVERLAP_S = 1.0  # runs updated within this of the cursor are looked at again, skipping those handled


@sensor(minimum_interval_seconds=60, default_status=DefaultSensorStatus.RUNNING,
        description="Logs every finished run in batch_execution_log and batch_performance_metrics and sends the "
        "alerts of batch_processing.yaml: failed runs, failed data-quality checks, runs over the time thresholds.")
def run_monitor_sensor(context: SensorEvaluationContext, database: BillingDatabase, notifier: DocumentNotifier,
                       inbox: FeedInbox):
    if "alembic_version" not in inspect(database.engine()).get_table_names():
        return SkipReason("the billing database has no schema yet: run `billing init`")
    config = inbox.operations_config()
    with database.engine().begin() as conn:
        note_configuration(conn, config, config_path(inbox.paths().home), actor="dagster-daemon")
    instance = context.instance
    records, cursor = _ended_since(instance, context.cursor)
    logged = 0
    for record in records:
        run = _finished(instance, record)
        with database.engine().begin() as conn:
            logged += record_run(conn, run, run_figures(conn, run.job_name,
                                                        run_partitions(instance, record.dagster_run)))
        for raised in _alerts_of_finished(instance, record.dagster_run, run, config):
            alert(context, database, notifier, inbox, config, raised)
    for record in instance.get_run_records(filters=RunsFilter(statuses=[DagsterRunStatus.STARTED])):
        if record.start_time:
            elapsed = datetime.now(timezone.utc).timestamp() - record.start_time
            slow = slow_run_alert(record.dagster_run.run_id, _name(instance, record.dagster_run), elapsed,
                                  config.monitoring.performance_thresholds, still_running=True)
            if slow:
                alert(context, database, notifier, inbox, config, slow)
    resend_unsent(context, database, notifier, inbox, config)
    context.update_cursor(cursor)
    return SkipReason(f"{logged} runs logged") if not logged else None


def _ended_since(instance: DagsterInstance, cursor: str | None) -> tuple[list[RunRecord], str | None]:
    """The ended runs not handled yet, oldest first (at most BATCH), and the cursor after them."""
    state = json.loads(cursor) if cursor else {"ts": None, "seen": []}
    seen = set(state["seen"])
    since = datetime.fromtimestamp(state["ts"] - OVERLAP_S, timezone.utc) if state["ts"] is not None else None
    records = instance.get_run_records(filters=RunsFilter(statuses=ENDED, updated_after=since),
                                       order_by="update_timestamp", ascending=True, limit=BATCH + len(seen))
    fresh = [record for record in records if record.dagster_run.run_id not in seen][:BATCH]
    if not fresh:
        return [], cursor
    last = fresh[-1].update_timestamp.timestamp()
    handled = seen | {record.dagster_run.run_id for record in fresh}
    around = [record.dagster_run.run_id for record in records
              if record.dagster_run.run_id in handled and record.update_timestamp.timestamp() >= last - OVERLAP_S]
    return fresh, json.dumps({"ts": last, "seen": around})


def _finished(instance: DagsterInstance, record: RunRecord) -> FinishedRun:
    run = record.dagster_run
    stats = instance.get_run_step_stats(run.run_id)
    failures = [_failure_text(entry) for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_FAILURE)]
    if not failures:  # stopped as a whole: run monitoring over its maximum run time, a crashed worker
        failures = [entry.message for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.RUN_FAILURE)
                    if entry.message]
    return FinishedRun(
        run_id=run.run_id, job_name=run.job_name, partition_key=partitions_label(run_partitions(instance, run)),
        status=run.status.value,
        started_at=datetime.fromtimestamp(record.start_time, timezone.utc) if record.start_time else None,
        ended_at=datetime.fromtimestamp(record.end_time, timezone.utc) if record.end_time else None,
        steps_succeeded=sum(1 for stat in stats if stat.status and stat.status.value == "SUCCESS"),
        steps_failed=sum(1 for stat in stats if stat.status and stat.status.value == "FAILURE"),
        message="\n".join(failures) or None,
    )


def _failure_text(entry) -> str:
    data = entry.dagster_event.event_specific_data
    if data.user_failure_data is not None and data.user_failure_data.description:
        text = data.user_failure_data.description
    else:
        text = data.error.message.strip() if data.error else "failed"
    return f"{entry.dagster_event.step_key}: {text}"


def _name(instance: DagsterInstance, run: DagsterRun) -> str:
    label = partitions_label(run_partitions(instance, run))
    return f"{run.job_name}" + (f" [{label}]" if label else "")


def _alerts_of_finished(instance: DagsterInstance, dagster_run: DagsterRun, run: FinishedRun,
                        config: BatchProcessingConfig) -> list[Alert]:
    raised = []
    if run.status == DagsterRunStatus.FAILURE.value:
        why = run.message or "the run failed before any step ran (see its event log)"
        condition = failure_condition(why)
        raised.append(Alert(f"run-failure-{run.run_id}", condition, "CRITICAL", f"{_name(instance, dagster_run)} failed",
                            f"Run {run.run_id} of {_name(instance, dagster_run)} failed"
                            f"{' (resource exhaustion)' if condition == 'resource_exhaustion' else ''}:\n\n{why}\n\n"
                            f"Fix what the message says, then re-execute the run from the Dagster UI (Runs → the run "
                            f"→ Re-execute)."))
    failed_checks = _failed_checks(instance, run.run_id)
    if failed_checks:
        severity = "CRITICAL" if any(level == "ERROR" for level, _ in failed_checks) else "WARNING"
        raised.append(Alert(f"checks-{run.run_id}", "data_quality_issues", severity,
                            f"{len(failed_checks)} data-quality checks failed in {_name(instance, dagster_run)}",
                            "\n".join(text for _, text in failed_checks)
                            + f"\n\nRun {run.run_id}. The checks and their samples are on the assets' Checks tab."))
    if run.started_at and run.ended_at:
        slow = slow_run_alert(run.run_id, _name(instance, dagster_run), (run.ended_at - run.started_at).total_seconds(),
                              config.monitoring.performance_thresholds, still_running=False)
        raised += [slow] if slow else []
    return raised


def _failed_checks(instance: DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(severity, one line) of each check of the run that did not pass."""
    found = []
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = entry.dagster_event.event_specific_data
        if evaluation.passed:
            continue
        figures = ", ".join(f"{key} {value.value}" for key, value in evaluation.metadata.items() if key != "sample")
        found.append((evaluation.severity.value, f"{evaluation.severity.value}: {evaluation.asset_key.to_user_string()}"
                      f" / {evaluation.check_name}" + (f" ({figures})" if figures else "")))
    return found

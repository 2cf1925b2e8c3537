"""The batches of batch_processing.yaml in Dagster's terms: schedules at the configured time in
the configured zone, each requesting the partition its batch is about; the maximum run time
as the tag run monitoring enforces; retries as configured — a step that fails for a moment
is retried and succeeds, a refusal is not retried."""

from datetime import date, datetime, timezone

import pytest
from click.testing import CliRunner
from dagster import (
    Backoff,
    DagsterEventType,
    RetryPolicy,
    build_schedule_context,
    partition_loading_context,
)

from billing.cli import main
from billing.operations.config import SHIPPED, BatchSchedule, load_config
from definitions import defs
from jobs import RETRIES
from jobs.policies import retry_policy
from jobs.launch import dagster_instance, run_closeofday
from jobs.schedules import batch_schedule
from tests.mail import Mailbox, free_port, serving
from tests.test_invoicing import billing_world  # noqa: F401  (the fixture)

UTC = timezone.utc


def test_the_schedules_are_those_of_the_configuration():
    found = {name: (defs.resolve_schedule_def(name).cron_schedule, defs.resolve_schedule_def(name).execution_timezone,
                    defs.resolve_schedule_def(name).job_name)
             for name in ("closeofday_schedule", "invoice_generation_schedule", "account_validation_schedule",
                          "data_synchronization_schedule")}
    assert found == {
        "closeofday_schedule": ("30 0 * * *", "America/Chicago", "closeofday_job"),  # nightly, 00:30
        "invoice_generation_schedule": ("0 1 1 * *", "America/Chicago", "invoice_generation_job"),  # day 1, 01:00
        "account_validation_schedule": ("0 2 * * *", "America/Chicago", "account_validation_job"),  # daily, 02:00
        "data_synchronization_schedule": ("15 * * * *", "America/Chicago", "warehouse_job"),  # hourly, at :15
    }


@pytest.mark.parametrize("name, tick_utc, partition", [
    # 00:30 CST on 8 March (UTC−6, DST starts at 02:00 that day) closes 7 March …
    ("closeofday_schedule", datetime(2026, 3, 8, 6, 30, tzinfo=UTC), "2026-03-07"),
    # … and 00:30 CDT on 9 March (UTC−5) closes 8 March: the tick follows the zone, not UTC.
    ("closeofday_schedule", datetime(2026, 3, 9, 5, 30, tzinfo=UTC), "2026-03-08"),
    # 01:00 CST on 1 December bills the cycle closing that day (its bills cover November).
    ("invoice_generation_schedule", datetime(2026, 12, 1, 7, 0, tzinfo=UTC), "2026-12-01"),
    # 02:00 CDT (UTC−5) on 1 July, 07:00 UTC, validates the reference data for 1 July …
    ("account_validation_schedule", datetime(2026, 7, 1, 7, 0, tzinfo=UTC), "2026-07-01"),
    # … and in winter 02:00 CST (UTC−6) is 08:00 UTC.
    ("account_validation_schedule", datetime(2026, 1, 2, 8, 0, tzinfo=UTC), "2026-01-02"),
    # 10:15 CDT (15:15 UTC) exports the hour 09:00–10:00 …
    ("data_synchronization_schedule", datetime(2026, 3, 10, 15, 15, tzinfo=UTC), "2026-03-10-09:00"),
    # … and when daylight saving ends on 1 November, 01:00–02:00 comes twice: 01:15 CST (07:15 UTC) exports
    # the first (CDT), 02:15 CST (08:15 UTC) the second, which Dagster keys with its offset.
    ("data_synchronization_schedule", datetime(2026, 11, 1, 7, 15, tzinfo=UTC), "2026-11-01-01:00"),
    ("data_synchronization_schedule", datetime(2026, 11, 1, 8, 15, tzinfo=UTC), "2026-11-01-01:00-0600"),
])
def test_each_schedule_requests_the_partition_its_batch_is_about(name, tick_utc, partition):
    schedule = defs.resolve_schedule_def(name)
    context = build_schedule_context(scheduled_execution_time=tick_utc, repository_def=defs.get_repository_def())
    request = schedule.evaluate_tick(context).run_requests[0]
    assert (request.partition_key, request.run_key) == (partition, partition)
    job = defs.resolve_job_def(schedule.job_name)
    with partition_loading_context(effective_dt=tick_utc):  # a partition of the job at the time of the tick
        assert job.partitions_def.has_partition_key(partition)


def test_each_hour_is_exported_again_once_the_longest_batch_has_had_time_to_commit():
    schedule = defs.resolve_schedule_def("data_synchronization_schedule")
    context = build_schedule_context(scheduled_execution_time=datetime(2026, 3, 10, 15, 15, tzinfo=UTC),
                                     repository_def=defs.get_repository_def())
    # 10:15 CDT: the hour just ended, and the hour 01:00–02:00 again — 8 hours (the invoice generation's
    # max_duration, the longest) after it ended, every run that could still stamp rows in it has stopped.
    assert [(r.run_key, r.partition_key) for r in schedule.evaluate_tick(context).run_requests] == [
        ("2026-03-10-09:00", "2026-03-10-09:00"), ("2026-03-10-01:00:settled", "2026-03-10-01:00")]


def test_an_edited_schedule_runs_at_its_own_time_in_its_own_zone():
    tokyo = BatchSchedule(frequency="daily", start_time="23:45", timezone="Asia/Tokyo", max_duration="1 hours")
    schedule = batch_schedule("tokyo_close", defs.resolve_job_def("closeofday_job"), tokyo,
                              lambda local: {"tokyo": local.date().isoformat()}, "test")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("45 23 * * *", "Asia/Tokyo")
    # 14:45 UTC on 1 May is 23:45 on 1 May in Tokyo (UTC+9).
    [request] = schedule.evaluate_tick(build_schedule_context(
        scheduled_execution_time=datetime(2026, 5, 1, 14, 45, tzinfo=UTC),
        repository_def=defs.get_repository_def())).run_requests
    assert request.partition_key == "2026-05-01"


def test_each_batch_carries_its_maximum_run_time_for_run_monitoring():
    max_runtime = {name: defs.resolve_job_def(name).tags.get("dagster/max_runtime")
                   for name in ("closeofday_job", "invoice_generation_job", "account_validation_job", "warehouse_job")}
    assert max_runtime == {"closeofday_job": "7200", "invoice_generation_job": "28800",  # 2 h, 8 h
                           "account_validation_job": "14400", "warehouse_job": "1800"}  # 4 h, 30 min


def test_every_job_retries_as_configured(monkeypatch):
    monkeypatch.delenv("BILLING_CONFIG")
    # The seed's policy: 3 retries, 300 s apart, exponential: Dagster waits 300, 900, 2100 s.
    assert retry_policy(load_config(SHIPPED.parent)) == RetryPolicy(max_retries=3, delay=300,
                                                                      backoff=Backoff.EXPONENTIAL)
    # The tests run with one immediate retry (tests/conftest.py), and every job has it.
    assert RETRIES == RetryPolicy(max_retries=1, delay=0, backoff=Backoff.EXPONENTIAL)
    assert {job.name: job.op_retry_policy for job in defs.resolve_all_job_defs() if job.name != "__ASSET_JOB"} == {
        job.name: RETRIES for job in defs.resolve_all_job_defs() if job.name != "__ASSET_JOB"}


def _events(instance, run_id, event_type):
    return [entry.dagster_event.step_key for entry in instance.all_logs(run_id, of_type=event_type)]


def test_a_mail_server_refusing_for_a_moment_is_retried_and_the_day_closes(billing_world, billing_home,  # noqa: F811
                                                                           monkeypatch):
    mailbox = Mailbox(refuse=2)  # "451 local error" for the first two messages, then fine
    port = free_port()
    monkeypatch.setenv("BILLING_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("BILLING_SMTP_PORT", str(port))
    instance = dagster_instance()
    with serving(mailbox, port):
        # From the command line, where the operator waits: no retry, the command says what to fix.
        typed = CliRunner().invoke(main, ["closeofday", "--date", "2026-03-01"], catch_exceptions=False)
        assert typed.exit_code == 1 and "Fix the mail server (BILLING_SMTP_*)" in typed.output
        [cli_run] = instance.get_runs()
        assert _events(instance, cli_run.run_id, DagsterEventType.STEP_UP_FOR_RETRY) == []
        # As the schedule runs it: the job's retry policy tries the step again, and it succeeds.
        result = defs.resolve_job_def("closeofday_job").execute_in_process(instance=instance,
                                                                           partition_key="2026-03-01")
    assert result.success
    assert mailbox.refused == 2
    assert [message["Subject"] for message in mailbox.messages] == ["Invoice US-2026-000002"]  # sent once
    assert _events(instance, result.run_id, DagsterEventType.STEP_UP_FOR_RETRY) == ["invoice_documents"]
    assert _events(instance, result.run_id, DagsterEventType.STEP_RESTARTED) == ["invoice_documents"]


def test_a_refusal_fails_at_once_without_a_retry(billing_world, billing_home):  # noqa: F811
    instance = dagster_instance()
    assert run_closeofday(instance, date(2026, 2, 26)).success
    job = defs.resolve_job_def("closeofday_job")  # with its retry policy, as the schedule runs it
    result = job.execute_in_process(instance=instance, partition_key="2026-03-01", raise_on_error=False)
    assert not result.success  # 27 and 28 February are not closed
    run = instance.get_run_by_id(result.run_id)
    assert _events(instance, run.run_id, DagsterEventType.STEP_FAILURE) == ["checked_database"]
    assert _events(instance, run.run_id, DagsterEventType.STEP_UP_FOR_RETRY) == []

"""Alerts, the execution log and the feed circuit breaker, on real runs of the real jobs: a
failed run is logged and e-mailed once to the configured recipients through a real SMTP server
on loopback; a feed with too many transactions in error fails its data-quality check and is
e-mailed; five failed aggregation runs in a row open the breaker, which holds new feeds until
`billing breaker reset feeds`."""

from decimal import Decimal

import pytest
import yaml
from click.testing import CliRunner
from dagster import AssetCheckSeverity, DagsterInstance, SkipReason, build_sensor_context

from billing.cli import main
from billing.db.schema import alert_log, batch_execution_log, batch_performance_metrics
from billing.feeds.inbox import identify, submit
from billing.notify import OutboxNotifier
from billing.operations.alerts import Alert, failure_condition, raise_alert, slow_run_alert
from billing.operations.breaker import consecutive_failures, failure_rate_pct
from billing.operations.config import SHIPPED, load_config
from jobs.launch import run_feed_job
from resources import BillingDatabase, DocumentNotifier, FeedInbox
from sensors.feeds import feed_sensor
from sensors.run_monitor import run_monitor_sensor
from tests.mail import smtp_server  # noqa: F401  (the fixture)
from tests.world import load_world, rows, run_feed, write_feed

RECIPIENTS = "billing-admin@townepark.com, system-admin@townepark.com"  # the seed's
GOOD = [f"Q{n},2026-11-10,A1,CHQ,USD,10.00,1," for n in range(1, 10)]
UNKNOWN_ACCOUNT = "E1,2026-11-10,ZZZ,CHQ,USD,10.00,1,"  # ends EROR: account ZZZ is unknown
RESOURCES = {"database": BillingDatabase(), "notifier": DocumentNotifier(), "inbox": FeedInbox()}


@pytest.fixture
def world(engine, billing_home, tmp_path):
    load_world(engine, tmp_path / "reference")
    return engine


def _monitor(instance):
    return run_monitor_sensor(build_sensor_context(instance=instance, resources=RESOURCES))


def _feed_sensor(instance):
    return feed_sensor(build_sensor_context(instance=instance, resources=RESOURCES))


def _fail_a_run(instance, header_id):
    """A real aggregation run that fails: its feed's files are not there."""
    outcome = run_feed_job(instance, "aggregation_job", header_id)
    assert not outcome.success
    return outcome


def test_a_failed_run_is_logged_and_e_mailed_once(world, billing_home, smtp_server):  # noqa: F811
    instance = DagsterInstance.ephemeral()
    outcome = _fail_a_run(instance, "FEED-GONE")
    _monitor(instance)
    _monitor(instance)  # a second look at the same run sends nothing more
    [message] = smtp_server.messages
    assert (message["Subject"], message["To"], message["X-Billing-Alert"]) == (
        "[billing CRITICAL] aggregation_job [FEED-GONE] failed", RECIPIENTS, "batch_failure")
    body = message.get_content()
    assert f"Run {outcome.run_id} of aggregation_job [FEED-GONE] failed:" in body
    assert "\nstaged_feed: feed FEED-GONE is neither in the inbox" in body  # the step's own message, no traceback
    assert "Traceback" not in body
    assert rows(world, batch_execution_log, "run_id", "job_name", "partition_key", "status", "steps_succeeded",
                "steps_failed") == [(outcome.run_id, "aggregation_job", "FEED-GONE", "FAILURE", 0, 1)]
    assert rows(world, alert_log, "alert_key", "condition", "severity", "transport") == [
        (f"run-failure-{outcome.run_id}", "batch_failure", "CRITICAL", "smtp")]


def test_a_feed_over_the_error_rate_warning_fails_its_check_and_is_e_mailed(world, billing_home, tmp_path,
                                                                            smtp_server):  # noqa: F811
    instance = DagsterInstance.ephemeral()
    # 1 transaction in error out of 10 = 10 %: above the 5 % warning, not above the 10 % critical.
    header_id, outcome = run_feed(billing_home, write_feed(tmp_path / "drop", "tenth", GOOD + [UNKNOWN_ACCOUNT]),
                                  instance=instance)
    assert outcome.success
    [evaluation] = [entry.dagster_event.event_specific_data for entry in instance.all_logs(outcome.run_id)
                    if entry.dagster_event and entry.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
                    and entry.dagster_event.event_specific_data.check_name == "feed_error_rate"]
    assert (evaluation.passed, evaluation.severity) == (False, AssetCheckSeverity.WARN)
    assert (evaluation.metadata["transactions"].value, evaluation.metadata["in_error"].value,
            evaluation.metadata["error_rate_pct"].value) == (10, 1, 10.0)

    _monitor(instance)
    [message] = smtp_server.messages
    assert (message["Subject"], message["X-Billing-Alert"]) == (
        f"[billing WARNING] 1 data-quality checks failed in aggregation_job [{header_id}]", "data_quality_issues")
    assert ("WARN: aggregation_cleanup / feed_error_rate (critical_above_pct 10.0, error_rate_pct 10.0, in_error 1, "
            "transactions 10, warning_above_pct 5.0)") in message.get_content()
    [(run_id, status)] = rows(world, batch_execution_log, "run_id", "status")
    assert (run_id, status) == (outcome.run_id, "SUCCESS")
    [(records, errors, rate, duration, per_hour)] = rows(
        world, batch_performance_metrics, "records", "error_records", "error_rate_pct", "duration_seconds",
        "records_per_hour")
    assert (records, errors, rate) == (10, 1, Decimal("10.00"))
    assert duration > 0 and per_hour == int(Decimal(10) * 3600 / duration)


def test_five_failed_runs_open_the_breaker_until_an_operator_resets_it(world, billing_home, tmp_path,
                                                                      smtp_server):  # noqa: F811
    instance = DagsterInstance.ephemeral()
    control = write_feed(tmp_path / "drop", "waiting", GOOD)
    submit(control.with_name("waiting.csv"), control, billing_home.inbox)
    header_id = identify(billing_home.inbox / "waiting.ctl.json").header_id
    for n in range(4):
        _fail_a_run(instance, f"GONE-{n}")
    assert [request.partition_key for request in _feed_sensor(instance).run_requests] == [header_id]  # 4 < 5

    last = _fail_a_run(instance, "GONE-4")  # the fifth failure in a row
    refused = _feed_sensor(instance)
    assert isinstance(refused, SkipReason)
    assert "circuit breaker 'feeds' open since" in refused.skip_message
    assert f"the last 5 aggregation_job runs failed, the latest {last.run_id} (feed GONE-4)" in refused.skip_message
    assert "Fix the cause, then run `billing breaker reset feeds`" in refused.skip_message
    assert isinstance(_feed_sensor(instance), SkipReason)  # still open; the alert is not repeated
    [message] = smtp_server.messages
    assert message["Subject"] == "[billing CRITICAL] circuit breaker 'feeds' open: the feed sensor stopped launching runs"
    assert message["To"] == RECIPIENTS
    status = CliRunner().invoke(main, ["breaker", "status"])
    assert status.exit_code == 0 and "feeds — the feed sensor (aggregation runs): OPEN since" in status.output

    reset = CliRunner().invoke(main, ["breaker", "reset", "feeds"], env={"BILLING_OPERATOR": "jdoe"})
    assert reset.exit_code == 0, reset.output
    assert reset.output.strip() == "breaker feeds: closed; only failures from now on count"
    assert [request.partition_key for request in _feed_sensor(instance).run_requests] == [header_id]
    _fail_a_run(instance, "GONE-5")  # failures before the reset no longer count
    assert [request.partition_key for request in _feed_sensor(instance).run_requests] == [header_id]
    assert "last reset" in CliRunner().invoke(main, ["breaker", "status"]).output
    unknown = CliRunner().invoke(main, ["breaker", "reset", "payments"])
    assert unknown.exit_code == 2 and "there is no circuit breaker 'payments'; the breakers are: feeds" in unknown.output


def test_runs_in_a_row_and_the_failure_rate():
    newest_first = ["FAILURE", "FAILURE", "SUCCESS", "FAILURE"] + ["SUCCESS"] * 8
    assert consecutive_failures(newest_first) == 2
    assert failure_rate_pct(newest_first) == Decimal("25.00")  # 3 of 12
    assert failure_rate_pct(newest_first[:9]) is None  # fewer than 10 runs: no rate yet
    assert failure_rate_pct(["FAILURE"] + ["SUCCESS"] * 30) == Decimal("5.00")  # 1 of the last 20


def test_slow_runs_and_resource_exhaustion_are_told_apart():
    thresholds = load_config(SHIPPED.parent).monitoring.performance_thresholds  # warning 120, critical 180 min
    assert slow_run_alert("r1", "closeofday_job [2026-03-01]", 120 * 60, thresholds, still_running=True) is None
    warning = slow_run_alert("r1", "closeofday_job [2026-03-01]", 121 * 60, thresholds, still_running=True)
    assert (warning.key, warning.severity, warning.subject) == (
        "slow-r1-WARNING", "WARNING", "closeofday_job [2026-03-01] has been running for 121 minutes")
    critical = slow_run_alert("r1", "closeofday_job [2026-03-01]", 181 * 60, thresholds, still_running=False)
    assert (critical.key, critical.severity) == ("slow-r1-CRITICAL", "CRITICAL")
    assert failure_condition('FATAL:  sorry, too many clients already') == "resource_exhaustion"
    assert failure_condition("OSError: [Errno 28] No space left on device: 'archive/x'") == "resource_exhaustion"
    assert failure_condition("QueuePool limit of size 5 overflow 15 reached, connection timed out") == (
        "resource_exhaustion")
    assert failure_condition("feed F1: the control total does not match") == "batch_failure"


def test_alerts_go_to_the_outbox_by_default_and_a_condition_turned_off_raises_nothing(engine, tmp_path,
                                                                                      monkeypatch):
    monkeypatch.delenv("BILLING_CONFIG")
    outbox = OutboxNotifier(tmp_path / "alerts")
    slow = Alert("slow-r9-WARNING", "performance_degradation", "WARNING", "x ran for 130 minutes", "body")
    assert raise_alert(engine, load_config(SHIPPED.parent), outbox, slow)
    assert not raise_alert(engine, load_config(SHIPPED.parent), outbox, slow)  # once
    assert [path.name for path in (tmp_path / "alerts").iterdir()] == ["alert-slow-r9-WARNING.eml"]
    values = yaml.safe_load(SHIPPED.read_text())
    values["notifications"]["alert_conditions"]["performance_degradation"] = False
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "batch_processing.yaml").write_text(yaml.safe_dump(values))
    quiet = load_config(tmp_path / "home")
    other = Alert("slow-r10-WARNING", "performance_degradation", "WARNING", "y ran for 130 minutes", "body")
    assert not raise_alert(engine, quiet, outbox, other)
    assert rows(engine, alert_log, "alert_key") == [("slow-r9-WARNING",)]


def test_the_run_monitor_goes_through_runs_that_ended_together(world, billing_home, monkeypatch):
    import sensors.run_monitor

    instance = DagsterInstance.ephemeral()
    failed = [_fail_a_run(instance, f"GONE-{n}").run_id for n in range(3)]
    # One run per tick, and every run within the overlap window of the cursor: the runs the
    # cursor has handled must be skipped, or the first one would come back on every tick.
    monkeypatch.setattr(sensors.run_monitor, "BATCH", 1)
    monkeypatch.setattr(sensors.run_monitor, "OVERLAP_S", 3600.0)
    cursor = None
    for _ in range(4):
        context = build_sensor_context(instance=instance, resources=RESOURCES, cursor=cursor)
        run_monitor_sensor(context)
        cursor = context.cursor
    assert sorted(run_id for (run_id,) in rows(world, batch_execution_log, "run_id")) == sorted(failed)
    assert len(list((billing_home.outbox / "alerts").glob("alert-run-failure-*.eml"))) == 3  # no SMTP: the outbox


def test_the_run_monitor_waits_for_a_database_with_a_schema(tmp_path, monkeypatch):
    monkeypatch.setenv("BILLING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BILLING_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    skipped = _monitor(DagsterInstance.ephemeral())
    assert skipped.skip_message == "the billing database has no schema yet: run `billing init`"


def test_an_alert_the_mail_server_refused_goes_out_on_a_later_try(engine, monkeypatch):
    from billing.errors import BillingError
    from billing.notify import SmtpNotifier
    from billing.operations.alerts import send_alerts
    from tests.mail import Mailbox, free_port, serving

    monkeypatch.delenv("BILLING_CONFIG")
    config = load_config(SHIPPED.parent)
    port = free_port()
    smtp = SmtpNotifier("127.0.0.1", port)
    failed = Alert("run-failure-r7", "batch_failure", "CRITICAL", "closeofday_job [2026-03-01] failed", "body")
    with pytest.raises(BillingError, match="sending alert 'closeofday_job \\[2026-03-01\\] failed' through smtp failed"):
        raise_alert(engine, config, smtp, failed)  # nobody listens on the port
    assert rows(engine, alert_log, "alert_key", "sent_at") == [("run-failure-r7", None)]  # recorded, not sent
    with serving(Mailbox(), port) as mailbox:
        assert send_alerts(engine, config, smtp) == 1
        assert send_alerts(engine, config, smtp) == 0  # once
    assert [m["Subject"] for m in mailbox.messages] == ["[billing CRITICAL] closeofday_job [2026-03-01] failed"]

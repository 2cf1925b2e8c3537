"""More than one machine: the aggregation job with ``BILLING_EXECUTOR=celery``, its steps run
by a real Celery worker (``celery -A jobs.celery_worker worker``) through the RabbitMQ server
on 127.0.0.1:5672, on a Dagster instance under a temporary DAGSTER_HOME and the billing
database of each backend.

The worker and the run each run as a subprocess, as on a worker machine and on the host of
the run launcher; they share only the environment, the broker, the instance and the billing
database. The queue is new for each test, so that no other worker takes its steps and no
stale message reaches this one; the worker is stopped by pid (SIGTERM to its session, then
SIGKILL) and its queue deleted. The expected statuses and charges are the hand-computed ones
of tests/test_aggregation.py's ``test_every_rating_criteria_and_scope``: the same feed ends
the same through the workers as in process.

Without RabbitMQ the test is skipped — except in CI (``CI=true``), where it fails.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, in_process_executor
from kombu import Connection

from billing.db.schema import rollback_txn, txn_header
from billing.feeds.inbox import identify, submit
from jobs.executors import CelerySettings, job_executor
from tests.conftest import BACKENDS
from tests.test_aggregation import HAPPY_CHARGES, HAPPY_ROWS, _charges
from tests.world import BUSINESS_DATE, errors, load_world, rows, statuses, write_feed

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
BROKER = "pyamqp://guest@127.0.0.1:5672//"
RUN_TIMEOUT_S = 180
STOP_TIMEOUT_S = 30

# The steps of aggregation_job: the assets (C1-TXNIP's two in one multi-asset step) and the
# four checks on aggregation_cleanup.
STEPS = {"staged_feed", "validated_header", "validate_transactions_and_derive_legs", "transaction_summaries",
         "priced_summaries", "leg_statuses", "billable_charges", "completed_transactions", "aggregation_cleanup",
         "aggregation_cleanup_comp_legs_charged_once", "aggregation_cleanup_charge_sqis_equal_leg_sums",
         "aggregation_cleanup_feed_reconciles_with_control", "aggregation_cleanup_feed_error_rate"}

def test_the_jobs_run_in_process_unless_celery_is_chosen(monkeypatch):
    from definitions import defs

    monkeypatch.delenv("BILLING_EXECUTOR", raising=False)
    assert job_executor() is in_process_executor
    jobs = {job.name: job.executor_def for job in defs.resolve_all_job_defs() if not job.name.startswith("__")}
    assert "aggregation_job" in jobs and set(jobs.values()) == {in_process_executor}  # the default, unchanged
    monkeypatch.setenv("BILLING_EXECUTOR", "celery")
    assert job_executor().name == "billing_celery"
    monkeypatch.setenv("BILLING_EXECUTOR", "threads")
    with pytest.raises(ValueError, match="expected in_process or celery"):
        job_executor()
    for name in ("BILLING_CELERY_BROKER", "BILLING_CELERY_BACKEND", "BILLING_CELERY_QUEUE"):
        monkeypatch.delenv(name, raising=False)
    assert CelerySettings.from_environment().executor_config() == {
        "broker": "pyamqp://guest@127.0.0.1:5672//", "backend": "rpc://",
        "config_source": {"task_default_queue": "dagster"}}


def _require_rabbitmq() -> None:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=3).close()
    except OSError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"RabbitMQ is unreachable on 127.0.0.1:5672 and CI requires it: {error}")
        pytest.skip(f"RabbitMQ is unreachable on 127.0.0.1:5672 ({error}); .ci/run starts it")


@pytest.fixture
def celery_env(billing_home, tmp_path) -> dict[str, str]:
    """The environment of the worker and of the run: the test's BILLING_HOME, billing database
    and DAGSTER_HOME (a persistent SQLite instance: the worker opens it from the run's instance
    reference), the Celery executor and a queue of this test's own."""
    _require_rabbitmq()
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump({"telemetry": {"enabled": False}}), encoding="utf-8")
    return {**os.environ, "BILLING_EXECUTOR": "celery", "BILLING_CELERY_BROKER": BROKER,
            "BILLING_CELERY_BACKEND": "rpc://", "BILLING_CELERY_QUEUE": f"billing-test-{uuid.uuid4().hex[:12]}",
            "PYTHONPATH": str(REPO)}


@pytest.fixture
def worker(celery_env, tmp_path):
    """A Celery worker on the test's queue, one pool process; yields (process, log path). It
    starts while the run does (the run declares the queue and its steps wait there)."""
    queue = celery_env["BILLING_CELERY_QUEUE"]
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "celery"), "-A", "jobs.celery_worker", "worker", "-Q", queue, "-n", f"{queue}@%h",
             "--concurrency", "1", "--loglevel", "INFO", "--without-mingle", "--without-gossip"],
            cwd=REPO, env=celery_env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process, log
    finally:
        _stop(process)
        with Connection(BROKER) as connection:
            channel = connection.channel()
            channel.queue_delete(queue)
            channel.exchange_delete(queue)


def _execute(command: list[str], env: dict[str, str], worker: subprocess.Popen, worker_log: Path,
             output: Path) -> None:
    """Run the job as the run launcher's process would, failing at once if the worker dies."""
    with output.open("wb") as out:
        run = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True, stdout=out,
                               stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while run.poll() is None:
            if worker.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Celery worker stopped or the run took over {RUN_TIMEOUT_S} s; worker log:\n"
                            f"{worker_log.read_text(encoding='utf-8', errors='replace')[-5000:]}")
            time.sleep(0.2)
    finally:
        _stop(run)
    assert run.returncode == 0, output.read_text(encoding="utf-8", errors="replace")[-5000:]


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM (Celery's warm shutdown) to the worker's session, SIGKILL if it lingers."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_S)


def _parent_pid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


# A worker, a run and 13 steps at ~1 s each (dagster-celery polls its results every second):
# the test runs once, on PostgreSQL when the tests have it (CI) — the production shape, a
# billing database shared by every machine — else on SQLite.
@pytest.mark.parametrize("db_url", BACKENDS[-1:], indirect=True)
def test_the_aggregation_job_runs_its_steps_on_a_celery_worker(db_url, engine, billing_home, celery_env, worker,
                                                              tmp_path):
    load_world(engine, tmp_path / "reference")
    feed = identify(submit(*_happy_feed(tmp_path / "drop"), billing_home.inbox))
    instance = DagsterInstance.get()
    instance.add_dynamic_partitions("feeds", [feed.header_id])
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"ops": {"validate_transactions_and_derive_legs": {
        "config": {"business_date": BUSINESS_DATE.isoformat()}}}}), encoding="utf-8")
    tags = {"dagster/partition": feed.header_id, "billing/control_file": str(feed.control.path)}

    process, log = worker
    started = time.monotonic()
    _execute([str(BIN / "dagster"), "job", "execute", "-m", "definitions", "-a", "defs", "-j", "aggregation_job",
              "-c", str(config), "--tags", json.dumps(tags)], celery_env, process, log, tmp_path / "run.log")
    print(f"aggregation_job through Celery: {time.monotonic() - started:.1f} s")

    [record] = instance.get_run_records()
    assert record.dagster_run.status == DagsterRunStatus.SUCCESS
    events = [entry.dagster_event for entry in instance.all_logs(record.dagster_run.run_id) if entry.dagster_event]
    # Every step was sent to the test's queue, and taken by the test's worker …
    queue = celery_env["BILLING_CELERY_QUEUE"]
    submitted = {e.step_key for e in events if e.event_type == DagsterEventType.ENGINE_EVENT
                 and f'Submitting celery task for step "{e.step_key}" to queue "{queue}".' in (e.message or "")}
    assert submitted == STEPS
    delegated = {e.step_key: e.engine_event_data.metadata["Celery worker"].value for e in events
                 if e.event_type == DagsterEventType.ENGINE_EVENT and "in celery worker" in (e.message or "")}
    assert delegated == {step: f"{queue}@{socket.gethostname()}" for step in STEPS}
    # … and ran there: in the worker's pool process (a child of the worker, not of the run) …
    ran_in = {e.step_key: e.pid for e in events if e.event_type == DagsterEventType.STEP_START}
    assert set(ran_in) == STEPS
    assert {_parent_pid(pid) for pid in set(ran_in.values())} == {process.pid}
    assert {e.step_key for e in events if e.event_type == DagsterEventType.STEP_SUCCESS} == STEPS
    # … whose log shows each step finish.
    worker_log = log.read_text(encoding="utf-8", errors="replace")
    for step in STEPS:
        assert f'Finished execution of step "{step}"' in worker_log, step

    # The feed ends as in process (tests/test_aggregation.py): every transaction COMP but the
    # INFO one, which its pricing ignores; the same charges to the cent.
    assert rows(engine, txn_header, "status", where=txn_header.c.header_id == feed.header_id) == [("VALI",)]
    expected = {key: "COMP" for key in ("C1", "C2", "C3", "C4", "W1", "W2", "W3", "T1", "T2", "Q1", "X1", "X2")}
    assert statuses(engine, feed.header_id) == {**expected, "I1": "IGNR"}
    assert errors(engine, feed.header_id) == {"I1": ["IGNORED"]}
    assert rows(engine, rollback_txn, "status") == [("IGNR",)]
    assert _charges(engine) == HAPPY_CHARGES


def _happy_feed(folder: Path) -> tuple[Path, Path]:
    control = write_feed(folder, "happy", HAPPY_ROWS)
    return folder / "happy.csv", control

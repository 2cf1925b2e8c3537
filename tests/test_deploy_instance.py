"""The production instance of deploy/dagster.yaml, for real: PostgreSQL storage on the test
server, the daemon running, and runs that take time (tests/queue_location.py). The queue runs
at most max_parallel_batches at once and one run per partition; charge-writing steps never
overlap across runs; run monitoring stops a run over its maximum run time."""

import os
import signal
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from dagster import DagsterInstance, DagsterRunStatus
from sqlalchemy import create_engine, make_url, text

from billing.cli import main
from billing.operations.config import SHIPPED, load_config
from billing.operations.instance import instance_yaml
from tests.conftest import POSTGRES_URL
from tests.queue_location import BUSY_S, CHARGES_S, MAX_RUNTIME_S, REQUESTS

REPO = Path(__file__).resolve().parents[1]
PARALLEL = 2  # max_parallel_batches of the configuration under test
DAGSTER_DB = "billing_dagster_test"


def test_deploy_dagster_yaml_is_the_shipped_configuration_rendered(monkeypatch):
    monkeypatch.delenv("BILLING_CONFIG")
    rendered = instance_yaml(load_config(SHIPPED.parent))
    assert (REPO / "deploy" / "dagster.yaml").read_text(encoding="utf-8") == rendered
    settings = yaml.safe_load(rendered)
    assert settings["concurrency"]["runs"]["max_concurrent_runs"] == 3  # the seed's max_parallel_batches
    assert settings["storage"] == {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}
    assert settings["run_monitoring"]["enabled"] is True
    assert [limit["key"] for limit in settings["concurrency"]["runs"]["tag_concurrency_limits"]] == [
        "dagster/partition", "billing/serial"]  # one run per partition; the close of day's jobs one at a time
    assert settings["python_logs"]["dagster_handler_config"]["handlers"]["batchFile"]["filename"] == (
        "/var/log/billing/batch/dagster-runs.log")
    printed = CliRunner().invoke(main, ["instance-config"], env={"BILLING_CONFIG": str(SHIPPED)})
    assert printed.exit_code == 0 and printed.stdout == rendered


def _overlap(first: tuple[float, float], second: tuple[float, float]) -> bool:
    return first[0] < second[1] and second[0] < first[1]


def _most_at_once(windows: list[tuple[float, float]]) -> int:
    return max(sum(1 for start, end in windows if start <= moment < end) for moment, _ in windows)


@pytest.fixture
def dagster_home(tmp_path, monkeypatch):
    """$DAGSTER_HOME with the production dagster.yaml for a configuration of max_parallel_batches
    2, a 1-second monitoring interval and run logs under tmp_path/logs, its storage a fresh
    PostgreSQL database."""
    if not POSTGRES_URL:
        pytest.skip("the production instance needs PostgreSQL (BILLING_TEST_DATABASE_URL)")
    server = make_url(POSTGRES_URL)
    admin = create_engine(server.set(drivername="postgresql+psycopg2", database="postgres"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {DAGSTER_DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {DAGSTER_DB}"))
    admin.dispose()
    values = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    values["resource_limits"]["concurrent_processes"]["max_parallel_batches"] = PARALLEL
    values["monitoring"]["metrics_collection"]["collection_interval"] = 1
    values["logging"]["log_destinations"]["file_logging"]["log_directory"] = str(tmp_path / "logs")
    (tmp_path / "logs").mkdir()
    config = tmp_path / "batch_processing.yaml"
    config.write_text(yaml.safe_dump(values), encoding="utf-8")
    home = tmp_path / "dagster_home"
    home.mkdir()
    written = CliRunner().invoke(main, ["instance-config", "--out", str(home / "dagster.yaml")],
                                 env={"BILLING_CONFIG": str(config)})
    assert written.exit_code == 0, written.output
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_PG_URL", server.set(drivername="postgresql+psycopg2", database=DAGSTER_DB)
                       .render_as_string(hide_password=False))
    return home


def test_the_daemon_throttles_queued_runs_as_configured(dagster_home, tmp_path):
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_file": {
        "relative_path": str(REPO / "tests" / "queue_location.py"), "working_directory": str(REPO),
        "location_name": "queue"}}]}))
    daemon = subprocess.Popen([str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", str(workspace)],
                              cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    instance = DagsterInstance.get()
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            runs = instance.get_run_records()
            if len(runs) == len(REQUESTS) + 1 and all(r.dagster_run.is_finished for r in runs):
                break
            time.sleep(1)
        else:
            pytest.fail(f"runs not finished in time: {[(r.dagster_run.job_name, r.dagster_run.status) for r in runs]}")
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)

    batch = [r for r in runs if r.dagster_run.job_name == "batch_job"]
    assert {r.dagster_run.status for r in batch} == {DagsterRunStatus.SUCCESS}
    windows = {r.dagster_run.run_id: (r.start_time, r.end_time) for r in runs}
    # At most max_parallel_batches runs at once — and that many did run together.
    assert _most_at_once(list(windows.values())) == PARALLEL
    # The two runs of partition f1 one after the other.
    first, second = [windows[r.dagster_run.run_id] for r in batch if r.dagster_run.tags["dagster/partition"] == "f1"]
    assert not _overlap(first, second)
    # The charges steps (pool billing_charges, limit 1) never overlap; the busy steps did.
    steps = {key: [] for key in ("busy", "charges")}
    for record in batch:
        for stat in instance.get_run_step_stats(record.dagster_run.run_id):
            steps[stat.step_key].append((stat.start_time, stat.end_time))
    assert all(end - start >= CHARGES_S for start, end in steps["charges"])
    assert not any(_overlap(a, b) for a, b in combinations(steps["charges"], 2))
    assert any(_overlap(a, b) for a, b in combinations(steps["busy"], 2))
    assert all(end - start >= BUSY_S for start, end in steps["busy"])
    # Run monitoring failed the endless run soon after its maximum run time.
    [endless] = [r for r in runs if r.dagster_run.job_name == "endless_job"]
    assert endless.dagster_run.status == DagsterRunStatus.FAILURE
    assert endless.end_time - endless.start_time < MAX_RUNTIME_S + 30
    messages = [entry.message for entry in instance.all_logs(endless.dagster_run.run_id)]
    assert f"Exceeded maximum runtime of {MAX_RUNTIME_S} seconds." in messages
    # The runs' logs at log_levels.batch_execution (INFO) and up also went to the file of
    # logging.log_destinations.file_logging: the endless run's failure is there.
    logged = (tmp_path / "logs" / "dagster-runs.log").read_text(encoding="utf-8")
    assert f"ERROR dagster endless_job - {endless.dagster_run.run_id}" in logged

"""Database faults: PostgreSQL restarted in the middle of a run. The run fails at once, as a
failed run whose message names the database problem and what to do; nothing of the step it
was in is in the database (each step is one transaction); and running it again ends exactly
like a run that was never interrupted.

The server restarted is a private cluster made for these tests (Debian's postgresql-common:
pg_createcluster, as root), never the shared server others use; it is dropped at the end.
The run is stopped inside the charges step as in tests/test_crash_safety.py, then the
server is restarted under it: ``fast`` (the server ends every session, then shuts down
cleanly) and ``immediate`` (it stops without a shutdown checkpoint and recovers from its
write-ahead log on start, as after a crash).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus
from sqlalchemy import create_engine, make_url, text

from billing.cli import main
from billing.db.engine import make_engine
from billing.db.migrate import upgrade
from billing.feeds.inbox import identify
from billing.settings import billing_paths
from tests.crash import empty_database, feed_process, stopped_inside, tables
from tests.mail import free_port
from tests.test_crash_safety import AGGREGATION_KILLS, second_feed_to_process
from tests.conftest import POSTGRES_URL
from tests.world import BUSINESS_DATE

CLUSTER = "billing_faults"
DATABASE = "billing"


def _postgresql_version() -> str | None:
    """The newest PostgreSQL server installed (Debian layout), if any."""
    root = Path("/usr/lib/postgresql")
    versions = sorted((p.name for p in root.iterdir() if (p / "bin" / "postgres").is_file()), key=float) \
        if root.is_dir() else []
    return versions[-1] if versions else None


def _ctl(version: str, *args: str) -> None:
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, CLUSTER, *args], check=True,
                   capture_output=True, timeout=120)


def _drop(version: str) -> None:
    subprocess.run(["pg_dropcluster", "--stop", version, CLUSTER], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def private_server():
    """A PostgreSQL cluster of the tests' own on a free port, trusting local TCP connections,
    with an empty billing database; yields (version, URL of that database). Skipped when this
    is not root or postgresql-common is missing — except under CI, which must run it."""
    version = _postgresql_version()
    missing = ("not running as root" if os.geteuid() != 0 else
               "pg_createcluster (postgresql-common) is missing" if not shutil.which("pg_createcluster") else
               "no PostgreSQL server is installed" if version is None else None)
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the database fault tests, but {missing}")
        pytest.skip(f"the database fault tests make a PostgreSQL cluster of their own: {missing}")
    _drop(version)  # a cluster a killed earlier session left behind
    port = free_port()
    subprocess.run(["pg_createcluster", version, CLUSTER, "-p", str(port), "-o", "fsync=off", "--", "--auth=trust"],
                   check=True, capture_output=True, timeout=120)
    try:
        _ctl(version, "start")
        server = make_url(f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres")
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {DATABASE}"))
        admin.dispose()
        url = server.set(database=DATABASE).render_as_string(hide_password=False)
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield version, url
    finally:
        _drop(version)


@pytest.fixture
def faults(private_server, tmp_path, monkeypatch):
    """``$BILLING_HOME`` and ``$DAGSTER_HOME`` of the test, bound to the private server's
    (emptied) billing database; yields (version, engine)."""
    version, url = private_server
    home = tmp_path / "home"
    monkeypatch.setenv("BILLING_HOME", str(home))
    monkeypatch.setenv("BILLING_DATABASE_URL", url)
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    billing_paths().ensure()
    engine = make_engine(url)
    empty_database(engine)
    yield version, engine
    engine.dispose()


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgresql_restarted_inside_a_step_fails_the_run_cleanly_and_running_it_again_succeeds(faults, tmp_path,
                                                                                                  mode):
    """The server restarted while `billing feed process` is inside the charges step (which has
    written charges and legs, uncommitted): the command fails at once, naming the step, the
    database and what to do, without a traceback; the Dagster run is a failed run, not one
    left started; the charges step left nothing; the same command again ends like an
    uninterrupted run."""
    version, engine = faults
    charges = AGGREGATION_KILLS["charges"]
    second, clean = second_feed_to_process(engine, tmp_path)
    log = tmp_path / "run.log"
    with stopped_inside(engine, charges, ["feed", "process", str(second), "--business-date",
                                          BUSINESS_DATE.isoformat()], log) as stopped:
        _ctl(version, "restart", "-m", mode)
        exit_code = stopped.run.wait(timeout=120)
    output = log.read_text(errors="replace")

    # The run failed at once, saying what happened and what to do …
    assert exit_code == 1, output
    database = make_url(engine.url).render_as_string(hide_password=True)
    assert f"billable_charges: the connection to the database {database} was lost (" in output, output
    assert "nothing is half-written. Once the database answers again, run it again" in output
    assert "Traceback" not in output and "Stack Trace" not in output, output
    instance = DagsterInstance.get()
    [failed] = instance.get_runs()
    assert failed.status == DagsterRunStatus.FAILURE
    [failure] = instance.all_logs(failed.run_id, of_type=DagsterEventType.STEP_FAILURE)
    assert failure.step_key == charges.step
    assert "DatabaseUnavailable" in failure.dagster_event.step_failure_data.error.to_string()  # the UI's, too
    # … and nothing of the charges step is in the database.
    assert tables(engine) == stopped.before

    feed_process(second)  # once the database is back: the same command again
    assert tables(engine, stamps=False) == clean
    assert identify(second).header_id in {p.name for p in billing_paths().archive.iterdir()}


def test_a_command_run_while_postgresql_is_down_says_what_to_do_in_one_line(faults):
    """A command that needs the database, run while the server is down, ends with one line
    naming the database and what to do (exit 2), not a traceback; that its audit entry could
    not be written is a warning."""
    version, engine = faults
    _ctl(version, "stop", "-m", "fast")
    try:
        result = CliRunner().invoke(main, ["status"])
    finally:
        _ctl(version, "start")
    database = make_url(engine.url).render_as_string(hide_password=True)
    assert result.exit_code == 2, result.output
    assert f"error: the database {database} cannot be reached (connection to server at " in result.output
    assert "start the database server (or correct the URL, BILLING_DATABASE_URL), then run it again" in result.output
    assert result.output.count("warning: the audit trail could not be written") == 1  # not for each entry
    assert "Traceback" not in result.output


@pytest.mark.skipif(POSTGRES_URL is None, reason="needs PostgreSQL (BILLING_TEST_DATABASE_URL)")
def test_a_server_that_refuses_the_url_is_not_reported_as_down(tmp_path, monkeypatch):
    """A server that answers and refuses the URL — here, a database it does not have — is a
    mistake in the URL: the command says so and to correct it, not to start the server."""
    url = make_url(POSTGRES_URL).set(database="billing_no_such_database")
    monkeypatch.setenv("BILLING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BILLING_DATABASE_URL", url.render_as_string(hide_password=False))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home" / "dagster"))
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 2, result.output
    assert 'refused the connection (connection to server at "' in result.output
    assert 'database "billing_no_such_database" does not exist' in result.output
    assert "correct the URL — its user, password or database name (BILLING_DATABASE_URL)" in result.output
    assert "start the database server" not in result.output
    assert "Traceback" not in result.output


@pytest.mark.skipif(POSTGRES_URL is None, reason="needs PostgreSQL (BILLING_TEST_DATABASE_URL)")
def test_a_step_whose_server_refuses_the_url_fails_at_once_without_a_retry(tmp_path, monkeypatch):
    """Run as the sensor runs it — the job's retry policy on — a refused URL fails the first
    step at once with the reason. A retry cannot fix a URL, and the policy would wait 300 s."""
    from definitions import defs

    url = make_url(POSTGRES_URL).set(database="billing_no_such_database")
    monkeypatch.setenv("BILLING_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BILLING_DATABASE_URL", url.render_as_string(hide_password=False))
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("feeds", ["BANKA-20261120-1"])
    result = defs.resolve_job_def("aggregation_job").execute_in_process(
        instance=instance, partition_key="BANKA-20261120-1", raise_on_error=False)
    assert not result.success
    [failure] = [event for event in result.all_events if event.event_type == DagsterEventType.STEP_FAILURE]
    assert failure.step_key == "staged_feed"
    assert 'database "billing_no_such_database" does not exist' in failure.step_failure_data.user_failure_data.description
    assert not [event for event in result.all_events if event.event_type == DagsterEventType.STEP_UP_FOR_RETRY]

"""Faults injected into real runs, for tests/test_crash_safety.py and
tests/test_database_faults.py.

A run is a real process — the ``billing`` command — started in a session of its own, so that
a SIGKILL of its process group takes all of it, as a crash would. The test stops it inside a
chosen step deterministically: in its own open transaction it holds something the step is
about to write — a table lock (``LOCK TABLE … IN EXCLUSIVE MODE``: reads go on, writes wait),
a row lock (``SELECT … FOR UPDATE``), or an uncommitted row with the key the step is going to
insert (the step waits on the unique index). It then sees, in ``pg_stat_activity``, the run's
database session waiting on that lock, with the step's earlier writes held uncommitted
(``pg_locks``), and injects the fault there.

On SQLite a writer takes the whole database at ``BEGIN`` (and this engine begins every
transaction with ``BEGIN IMMEDIATE``), so a held lock stops a run before its first
statement, never inside a chosen step: the lock-based stops are PostgreSQL's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, select, text

from billing.db.schema import audit_log, metadata, warehouse_deletion
from tests.conftest import POSTGRES_URL, _truncate_all
from tests.test_idempotency import snapshot
from tests.world import BUSINESS_DATE

REPO = Path(__file__).resolve().parents[1]
BILLING = Path(sys.executable).with_name("billing")
# The run's sessions are told apart from the test's by their application name (libpq reads it
# from the environment).
RUN_APPLICATION = "billing-crash-test-run"
POLL_S = 0.05


@dataclass(frozen=True)
class KillPoint:
    """Where a run is stopped: the Dagster step, what the test holds so that the step waits
    there, and the tables the step has written (uncommitted) by then."""

    step: str
    hold: tuple[str, ...]
    written: frozenset[str]


def feed_process(control: Path, business_date: date = BUSINESS_DATE) -> None:
    """What `billing feed process` does — the feed staged in ``processing/``, the aggregation
    job run for its partition — in the test's process, on an in-memory Dagster instance (three
    times quicker than the command's instance on disk; the billing tables are the same)."""
    from dagster import DagsterInstance

    from jobs.launch import run_aggregation, stage_for_processing

    outcome = run_aggregation(DagsterInstance.ephemeral(), stage_for_processing(control), business_date)
    assert outcome.success, outcome.failures


def start_process(command: Sequence[str], log: Path) -> subprocess.Popen:
    """``command`` in a process group of its own, from the repository, with the test's
    environment (its ``BILLING_HOME``, databases, ``DAGSTER_HOME``); output to ``log``. Its
    PostgreSQL sessions are named ``RUN_APPLICATION``."""
    with log.open("wb") as out:
        return subprocess.Popen(list(command), cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PGAPPNAME": RUN_APPLICATION}, start_new_session=True)


def billing_command(args: Sequence[str], log: Path) -> subprocess.Popen:
    """``billing ARGS`` (as start_process)."""
    return start_process([str(BILLING), *args], log)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL the whole process group: nothing of it gets to clean up."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


@contextmanager
def stopped_process(process: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """Make sure the process group is gone when the block ends, whatever happened."""
    try:
        yield process
    finally:
        if process.poll() is None:
            kill(process)


@contextmanager
def holding(engine: Engine, *statements: str) -> Iterator[Connection]:
    """An open transaction of the test's own that has run ``statements`` (the locks or rows a
    step will wait for), rolled back when the block ends. A connection the server dropped
    meanwhile (a restart) is discarded."""
    conn = engine.connect()
    try:
        transaction = conn.begin()
        for statement in statements:
            conn.execute(text(statement))
        yield conn
        try:
            if transaction.is_active:  # (a test may have let go early, with conn.rollback())
                transaction.rollback()
        except Exception:  # the server went away under it: nothing to roll back
            conn.invalidate()
    finally:
        conn.close()


@dataclass(frozen=True)
class WaitingSession:
    """The run's database session waiting on the test's lock."""

    pid: int
    query: str
    # The billing tables its open transaction has written to so far (a statement that writes
    # locks its table, whatever rows it changed).
    written: frozenset[str]


def waiting_session(engine: Engine, process: subprocess.Popen, log: Path, timeout_s: float = 90) -> WaitingSession:
    """Wait until a session of the run waits on a lock; fail with the run's output if the run
    ends first or never gets there."""
    tables = {table.name for table in metadata.sorted_tables}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            found = conn.execute(text(
                # this database's only: another test run on the server may be waiting too
                "SELECT pid, query FROM pg_stat_activity WHERE application_name = :app "
                "AND datname = current_database() AND wait_event_type = 'Lock'"
            ), {"app": RUN_APPLICATION}).first()
            if found is not None:
                written = conn.execute(text(
                    "SELECT DISTINCT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "WHERE l.pid = :pid AND l.granted AND l.mode = 'RowExclusiveLock'"), {"pid": found.pid}).scalars()
                return WaitingSession(found.pid, found.query, frozenset(written) & tables)
        if process.poll() is not None:
            raise AssertionError(f"the run ended (exit {process.returncode}) before it waited on the lock:\n"
                                 f"{log.read_text(errors='replace')}")
        time.sleep(POLL_S)
    raise AssertionError(f"the run never waited on the lock in {timeout_s} s:\n{log.read_text(errors='replace')}")


@dataclass(frozen=True)
class Stopped:
    run: subprocess.Popen
    session: WaitingSession
    before: dict[str, list[tuple]]  # the database as the step found it (what is committed)


@contextmanager
def stopped_inside(engine: Engine, point: KillPoint, args: Sequence[str], log: Path) -> Iterator[Stopped]:
    """``billing ARGS`` started and stopped inside ``point.step``: the test holds
    ``point.hold``, sees the run wait on it having written ``point.written`` (uncommitted), and
    notes what is committed. The block injects the fault; when it ends the test lets go, and
    whatever is left of the run is killed."""
    with holding(engine, *point.hold), stopped_process(billing_command(args, log)) as run:
        session = waiting_session(engine, run, log)
        assert point.written <= session.written, session
        yield Stopped(run, session, tables(engine))


def killed_inside(engine: Engine, point: KillPoint, args: Sequence[str], log: Path) -> None:
    """``billing ARGS`` SIGKILLed inside ``point.step`` (stopped_inside); returns once the server
    has ended the killed run's session, having checked that nothing of the step was committed
    and that the Dagster instance last heard of the run starting that step."""
    from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

    with stopped_inside(engine, point, args, log) as stopped:
        kill(stopped.run)
    wait_until_session_ends(engine, stopped.session.pid)
    assert tables(engine) == stopped.before, "the killed step committed something"
    with engine.connect() as conn:
        trail = conn.execute(select(audit_log.c.subject, audit_log.c.outcome)
                             .where(audit_log.c.event == "operator_command").order_by(audit_log.c.audit_id)).all()
    assert trail[-1] == (" ".join(["billing", *args]), "STARTED"), "the killed command's start is not audited"
    instance = DagsterInstance.get()
    [killed] = [run for run in instance.get_runs() if run.status == DagsterRunStatus.STARTED]  # nobody said it ended
    assert instance.all_logs(killed.run_id, of_type=DagsterEventType.STEP_START)[-1].step_key == point.step


def wait_until_session_ends(engine: Engine, pid: int, timeout_s: float = 60) -> None:
    """The server ends a dead client's session once it notices (here: when its statement,
    let go by the test's lock, tries to answer); its transaction is rolled back then."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            if conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).scalar() == 0:
                return
        time.sleep(POLL_S)
    raise AssertionError(f"the session {pid} of the killed run was still there after {timeout_s} s")


def tables(engine: Engine, stamps: bool = True) -> dict[str, list[tuple]]:
    """Every row of every table (tests/test_idempotency.py's snapshot, ``stamps`` alike) but
    the audit trail's: it records the commands run, not billing data — a command killed with
    SIGKILL has only its STARTED entry there (it dies before it can say how it ended), one that
    failed has its outcome too."""
    return {name: found for name, found in snapshot(engine, stamps).items() if name != audit_log.name}


def empty_database(engine: Engine) -> None:
    """Every table emptied, reference data too, counters and sequences back to the start:
    the database as new, for the second of two runs that must end alike."""
    if engine.dialect.name == "postgresql":
        _truncate_all(engine)  # as between tests
        return
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
        conn.execute(warehouse_deletion.delete())  # the tombstones those deletes left


def on_postgresql(reason: str):
    """Run the test on the PostgreSQL backend only (skipped, saying why, without one)."""
    return pytest.mark.parametrize("db_url", [pytest.param("postgresql", marks=pytest.mark.skipif(
        not POSTGRES_URL, reason=f"needs PostgreSQL (BILLING_TEST_DATABASE_URL): {reason}"))], indirect=True)

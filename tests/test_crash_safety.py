"""Crash safety: a run killed (SIGKILL of its whole process) in the middle of a heavy step, then
run again, ends exactly like a run that was never interrupted — every billing table compared
row by row — and the killed step left nothing behind: each step is one database transaction.

The run is the operator's own command in a process of its own; tests/crash.py explains how
it is stopped inside the chosen step (a lock the test holds on what the step writes next).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import date
from decimal import Decimal as D
from pathlib import Path

import pytest
import yaml
from dagster import AssetKey, DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from dagster._core.scheduler.instigation import InstigatorType, TickStatus
from sqlalchemy import create_engine, func, make_url, select, text

from billing.db.schema import bill, bill_chg, bill_document, txn_detail, txn_detail_stg, txn_header, txn_summary
from billing.feeds.inbox import identify, submit
from billing.invoicing.adjustments import add_adjustment
from billing.operations.config import load_config
from billing.operations.instance import instance_yaml
from jobs.launch import run_closeofday
from sensors.feeds import FEEDS_PER_RUN
from tests.closeofday_world import ACCOUNT_HEADER, load
from tests.conftest import POSTGRES_URL
from tests.crash import (
    REPO,
    KillPoint,
    billing_command,
    empty_database,
    feed_process,
    holding,
    kill,
    killed_inside,
    on_postgresql,
    start_process,
    stopped_process,
    tables,
    waiting_session,
)
from tests.mail import Mailbox, free_port, serving
from tests.test_aggregation import ERROR_ROWS, HAPPY_ROWS
from tests.world import BUSINESS_DATE, charge_sums, load_world, rows, write_feed

# The second feed adds to the open aggregated charges of the first (A1's wire and ATM fees,
# PARENT1's wire fee) and carries every kind of error, so that each step has work of each kind.
SECOND_ROWS = [*ERROR_ROWS, "W4,2026-11-15,A1,WIRE,USD,10.00,1,", "T3,2026-11-16,A1,ATM,USD,60.00,2,"]


def second_feed_to_process(engine, tmp_path: Path) -> tuple[Path, dict[str, list[tuple]]]:
    """The second feed's control file, and the tables once both feeds are processed without
    interruption; the database is then set back to the first feed alone, for the run that
    will be interrupted."""
    first = write_feed(tmp_path / "drop", "first", HAPPY_ROWS)
    second = write_feed(tmp_path / "drop", "second", SECOND_ROWS)
    load_world(engine, tmp_path / "reference")
    feed_process(first)
    feed_process(second)
    clean = tables(engine, stamps=False)
    empty_database(engine)
    load_world(engine, tmp_path / "reference")
    feed_process(first)
    return second, clean


AGGREGATION_KILLS = {
    # The header row is in (and its feed number counted); the COPY of the rows waits.
    "upload": KillPoint("staged_feed", ("LOCK TABLE txn_detail_stg IN EXCLUSIVE MODE",),
                        frozenset({"txn_header", "id_allocator"})),
    # Transactions moved out of staging and validated, their errors recorded; the legs wait.
    "leg derivation": KillPoint("validate_transactions_and_derive_legs", ("LOCK TABLE txn_leg IN EXCLUSIVE MODE",),
                                frozenset({"txn_detail", "txn_detail_stg", "txn_detail_excp"})),
    # New charges written and legs pointed at them; recomputing the first feed's open wire
    # charge (which W4 joins) waits on the test's row lock.
    "charges": KillPoint("billable_charges", (
        "SELECT bill_chg_id FROM bill_chg WHERE account_id = 'A1' AND price_item_cd = 'WIRE_FEE' FOR UPDATE",),
        frozenset({"bill_chg", "txn_leg", "id_allocator"})),
}


@on_postgresql("a lock held by the test stops the run inside the step (tests/crash.py)")
@pytest.mark.parametrize("point", list(AGGREGATION_KILLS), ids=list(AGGREGATION_KILLS))
def test_a_feed_run_killed_inside_a_step_then_run_again_ends_like_a_clean_run(engine, billing_home, tmp_path, point):
    """`billing feed process` killed inside the step leaves the database as the step found it;
    the same command again ends with every billing table as one uninterrupted run leaves it —
    the same ids too: the killed transaction gave its counters back — and the feed's files
    archived."""
    second, clean = second_feed_to_process(engine, tmp_path)
    header_id = identify(second).header_id
    killed_inside(engine, AGGREGATION_KILLS[point], ["feed", "process", str(second), "--business-date",
                                                     BUSINESS_DATE.isoformat()], tmp_path / "killed-run.log")

    feed_process(second)  # the operator runs the command again
    assert tables(engine, stamps=False) == clean
    assert sorted(p.name for p in (billing_home.archive / header_id).iterdir()) == ["second.csv", "second.ctl.json"]
    assert not list(billing_home.processing.iterdir())


# Invoicing: bill cycle C1 closes on the 1st, so the close of 2026-03-01 bills February. Two
# divisions, so that finalization numbers two groups of bills (EU, then US) in one transaction.
DAY = date(2026, 3, 1)
INVOICING_WORLD = {
    "currencies": "currency_cd,minor_units\nUSD,2\nEUR,2\n",
    "divisions": "division_cd,name,currency_cd,processing_date_basis,default_price_list_cd\n"
                 "US,United States,USD,TXN_DATE,STD\nEU,Europe,EUR,TXN_DATE,EUSTD\n",
    "accounts": ACCOUNT_HEADER + "U1,P1,US,USD,C1,OPEN,,,2025-01-01,,14,VAT,u1@example.com\n"
                                 "U2,P2,US,USD,C1,OPEN,,,2025-01-01,,14,GST,u2@example.com\n"
                                 "E1,P2,EU,EUR,C1,OPEN,,,2025-01-01,,30,,e1@example.com\n",
}
ADJUSTMENTS = [("U1", "100.00", date(2026, 2, 10)), ("U1", "25.50", date(2026, 2, 20)),
               ("U2", "40.00", date(2026, 2, 15)), ("E1", "70.00", date(2026, 2, 12))]
# By hand: U1 125.50 + VAT 10 % (the rate of 03-01) 12.55; U2 40.00 + GST 7 % 2.80; E1 no tax.
# Numbered per division and year in (bill date, account) order.
BILLS = [("E1", "EU-2026-000001", D("70.00")), ("U1", "US-2026-000001", D("138.05")),
         ("U2", "US-2026-000002", D("42.80"))]


def _invoicing_world(engine, folder) -> None:
    load(engine, folder, INVOICING_WORLD)
    with engine.begin() as conn:
        for account, amount, day in ADJUSTMENTS:
            add_adjustment(conn, account, D(amount), "crash test", day)


def _close_day() -> None:
    """What `billing closeofday --date 2026-03-01` does, in the test's process (on an in-memory
    Dagster instance, as feed_process)."""
    outcome = run_closeofday(DagsterInstance.ephemeral(), DAY)
    assert outcome.success, outcome.failures


class StallingMailbox(Mailbox):
    """A real SMTP server (tests/mail.py) that hangs on the ``stall_at``-th message: it takes
    the data and never answers, like a mail server stuck mid-delivery, until released."""

    def __init__(self):
        super().__init__()
        self.stall_at, self.delivered = None, 0
        self.stalled, self.release = threading.Event(), threading.Event()

    def stall_on(self, nth: int) -> None:
        """Hang on the ``nth`` message from now on."""
        self.stall_at = self.delivered + nth

    async def handle_DATA(self, server, session, envelope):
        self.delivered += 1
        if self.delivered == self.stall_at:
            self.stalled.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 Requested action aborted: local error in processing"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def mailbox(monkeypatch):
    """Invoices go by e-mail to a StallingMailbox (hanging on nothing until told); no PDF."""
    port = free_port()
    for name, value in {"BILLING_SMTP_HOST": "127.0.0.1", "BILLING_SMTP_PORT": str(port),
                        "BILLING_SMTP_FROM": "invoices@bank.example", "BILLING_PDF": "N"}.items():
        monkeypatch.setenv(name, value)
    box = StallingMailbox()
    with serving(box, port):
        try:
            yield box
        finally:
            box.release.set()


def _clean_close(engine, tmp_path, box: Mailbox) -> dict:
    """The day closed without interruption: its tables, the bills checked by hand; then the
    database as new again, the world reloaded and the mailbox emptied."""
    _invoicing_world(engine, tmp_path / "reference")
    _close_day()
    assert rows(engine, bill, "account_id", "invoice_number", "total_amount") == BILLS
    clean = tables(engine, stamps=False)
    assert len(box.messages) == 3
    empty_database(engine)
    _invoicing_world(engine, tmp_path / "reference")
    box.messages.clear()
    return clean


INVOICING_KILLS = {
    # DoInvoicing: the bills are written; their segments wait on the test's uncommitted segment
    # for U2's charge (one segment per charge: the unique index makes the insert wait).
    "DoInvoicing": KillPoint("pending_bills", (
        "INSERT INTO bill_segment (bseg_id, bill_id, bill_chg_id, status) "
        "SELECT 'held-by-test', 'held-by-test', bill_chg_id, 'FREEZABLE' FROM bill_chg WHERE account_id = 'U2'",),
        frozenset({"bill"})),
    # finalize_billing: the EU bill is numbered; the US invoice counter waits on the test's
    # uncommitted counter row (its first use this year).
    "finalization": KillPoint("completed_bills",
                              ("INSERT INTO id_allocator (name, next_id) VALUES ('invoice:US:2026', 1)",),
                              frozenset({"bill", "id_allocator"})),
}


@on_postgresql("a lock held by the test stops the run inside the step (tests/crash.py)")
@pytest.mark.parametrize("point", list(INVOICING_KILLS), ids=list(INVOICING_KILLS))
def test_a_close_of_day_killed_inside_invoicing_then_run_again_ends_like_a_clean_run(engine, billing_home, tmp_path,
                                                                                     mailbox, point):
    """`billing closeofday` killed inside DoInvoicing or finalization leaves the database as the
    step found it; the day closed again ends like an uninterrupted close: the same bills and
    ids, invoice numbers without a gap, each invoice sent once."""
    clean = _clean_close(engine, tmp_path, mailbox)
    killed_inside(engine, INVOICING_KILLS[point], ["closeofday", "--date", DAY.isoformat()],
                  tmp_path / "killed-run.log")

    _close_day()
    assert tables(engine, stamps=False) == clean
    assert len(mailbox.messages) == 3  # each invoice sent once


def test_a_close_of_day_killed_while_sending_invoices_sends_each_invoice_once(engine, billing_home, tmp_path,
                                                                             mailbox):
    """Each invoice is claimed, sent and recorded in a transaction of its own: killed while
    the mail server holds the second one (not accepted), the first stays recorded as sent and
    the run again sends the two others — each invoice reaches the mailbox once."""
    clean = _clean_close(engine, tmp_path, mailbox)
    mailbox.stall_on(2)
    log = tmp_path / "killed-run.log"
    with stopped_process(billing_command(["closeofday", "--date", DAY.isoformat()], log)) as run:
        if not mailbox.stalled.wait(timeout=90):
            pytest.fail(f"the run never sent its second invoice:\n{log.read_text(errors='replace')}")
        kill(run)
    mailbox.release.set()
    [killed] = DagsterInstance.get().get_runs()
    assert DagsterInstance.get().all_logs(killed.run_id, of_type=DagsterEventType.STEP_START)[-1].step_key == \
        "invoice_documents"
    [first] = mailbox.messages
    sent = rows(engine, bill_document, "message_id", where=bill_document.c.sent_at.is_not(None))
    assert sent == [(first["Message-ID"],)]  # the claim of the second was rolled back with the process

    mailbox.stall_at = None
    _close_day()
    assert tables(engine, stamps=False) == clean
    invoices = sorted(f"<INV-{bill_id}@billing.local>" for (bill_id,) in rows(engine, bill, "bill_id"))
    assert sorted(message["Message-ID"] for message in mailbox.messages) == invoices


# The daemon: feeds dropped together, so that one tick registers them all (and, uninterrupted,
# asks for one run over them: a batch, sensors/feeds.py). Few, so that the runs are short.
DAEMON_FEEDS = 3
assert DAEMON_FEEDS <= FEEDS_PER_RUN


def _small_feed(folder: Path, n: int) -> Path:
    """Feed n: a wire of 10 × n on A1 (into A1's open wire charge and PARENT1's) and a card
    payment of 10.00 (a charge of its own: 1 % with a minimum of 0.25)."""
    return write_feed(folder, f"small-{n:03d}", [f"W{n},2026-11-05,A1,WIRE,USD,{10 * n}.00,1,",
                                                f"C{n},2026-11-06,A1,CARD,USD,10.00,1,BRANCH"],
                      external_header_id=f"SMALL-{n:03d}")


@pytest.fixture
def production_instance(tmp_path, monkeypatch):
    """$DAGSTER_HOME with the production dagster.yaml (`billing instance-config`: PostgreSQL
    storage, run queue, pools, run monitoring), its storage a fresh database on the test server;
    the run queue looks every second instead of every five."""
    server = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg2")
    name = f"{server.database}_daemon_kill"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    values = yaml.safe_load(Path(os.environ["BILLING_CONFIG"]).read_text(encoding="utf-8"))
    values["logging"]["log_destinations"]["file_logging"]["log_directory"] = str(tmp_path / "logs")
    (tmp_path / "logs").mkdir()
    config = tmp_path / "batch_processing.yaml"
    config.write_text(yaml.safe_dump(values), encoding="utf-8")
    monkeypatch.setenv("BILLING_CONFIG", str(config))
    home = tmp_path / "dagster_home"
    home.mkdir()
    settings = yaml.safe_load(instance_yaml(load_config(tmp_path)))
    settings["run_coordinator"]["config"] = {"dequeue_interval_seconds": 1}
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    url = server.set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("DAGSTER_PG_URL", url)
    storage = create_engine(url)
    yield storage
    storage.dispose()
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def _daemon(log: Path):
    return start_process([str(Path(sys.executable).with_name("dagster-daemon")), "run", "-w", "workspace.yaml"],
                         log)


def _feed_sensor_ticks(instance: DagsterInstance):
    [state] = [s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
               if s.name == "feed_sensor"]
    return instance.get_ticks(state.instigator_origin_id, state.selector_id)


def _count(engine, table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar()


def _killed_writing_its_run(engine, storage, daemon, log: Path):
    """The tick has registered the partitions and reserved its run (in the tick), and waits to
    write the run: the test holds the runs table."""
    with holding(storage, "LOCK TABLE runs IN EXCLUSIVE MODE"):
        session = waiting_session(storage, daemon, log)
        assert session.query.startswith("INSERT INTO runs"), session
        return _kill_daemon(storage, daemon, session)


def _killed_registering_partitions(engine, storage, daemon, log: Path):
    """The tick has registered the partitions, and waits to record the run it asks for: the
    test stalls the sensor's evaluation on the feed headers until it holds the tick's row."""
    with holding(engine, "LOCK TABLE txn_header IN ACCESS EXCLUSIVE MODE") as stall:
        waiting_session(engine, daemon, log)  # the code server evaluates the sensor
        [tick] = _feed_sensor_ticks(DagsterInstance.get())
        with holding(storage, f"SELECT id FROM job_ticks WHERE id = {tick.tick_id} FOR UPDATE"):
            stall.rollback()  # the evaluation goes on, the partitions are added …
            session = waiting_session(storage, daemon, log)  # … and the tick waits to be written
            assert session.query.startswith("UPDATE job_ticks"), session
            return _kill_daemon(storage, daemon, session)


def _kill_daemon(storage, daemon, session):
    """SIGKILL the daemon and its code server, and end its waiting statement with it (the
    server would run it once the test lets go: the daemon's storage commits each statement)."""
    kill(daemon)
    with storage.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": session.pid})
    instance = DagsterInstance.get()
    [tick] = _feed_sensor_ticks(instance)
    assert tick.status == TickStatus.STARTED
    # The sensor's minimum interval (15 s) counts from the start of the interrupted tick: move
    # that start back, so that the daemon started again need not sit it out.
    [state] = [s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
               if s.name == "feed_sensor"]
    data = state.instigator_data
    instance.update_instigator_state(state.with_data(data._replace(
        last_tick_start_timestamp=data.last_tick_start_timestamp - 60)))
    return tick


# Where the daemon is killed in its tick, and how many runs then process the feeds.
TICK_KILLS = {
    # Dagster resumes the tick on restart: its one reserved run processes the feeds.
    "writing its run": (_killed_writing_its_run, 1),
    # The tick is dropped (nothing reserved) and the next one asks again; the feeds' partitions
    # exist already, so each feed gets a run of its own, as any feed seen before does.
    "registering partitions": (_killed_registering_partitions, DAEMON_FEEDS),
}


@on_postgresql("the daemon runs on the production instance: PostgreSQL storage")
@pytest.mark.parametrize("point", list(TICK_KILLS), ids=list(TICK_KILLS))
def test_the_daemon_killed_in_a_sensor_tick_skips_no_feed_and_processes_none_twice(
        engine, billing_home, tmp_path, production_instance, point):
    """The feeds dropped, the feed sensor on, the daemon killed (with its code server) in the
    middle of the tick that registers them, then started again: every feed is processed, once."""
    stop, expected_runs = TICK_KILLS[point]
    load_world(engine, tmp_path / "reference")
    controls = [_small_feed(tmp_path / "drop", n) for n in range(1, DAEMON_FEEDS + 1)]
    header_ids = sorted(identify(control).header_id for control in controls)
    for control in controls:
        submit(control.with_name(control.name.replace(".ctl.json", ".csv")), control, billing_home.inbox)
    subprocess.run([str(Path(sys.executable).with_name("dagster")), "sensor", "start", "feed_sensor", "-w",
                    "workspace.yaml"], cwd=REPO, check=True, capture_output=True, timeout=120)
    instance = DagsterInstance.get()

    first_log = tmp_path / "daemon-1.log"
    with stopped_process(_daemon(first_log)) as daemon:
        tick = stop(engine, production_instance, daemon, first_log)
    assert sorted(instance.get_dynamic_partitions("feeds")) == header_ids  # registered …
    assert instance.get_runs() == []  # … no run written
    assert _count(engine, txn_header) == 0 and len(list(billing_home.inbox.glob("*.ctl.json"))) == DAEMON_FEEDS

    second_log = tmp_path / "daemon-2.log"
    with stopped_process(_daemon(second_log)):
        deadline = time.monotonic() + 300
        while True:
            runs = instance.get_runs(filters=RunsFilter(job_name="aggregation_job"))
            if (_count(engine, txn_header) == DAEMON_FEEDS and len(runs) >= expected_runs
                    and all(run.is_finished for run in runs) and not _count(engine, txn_summary)):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"not processed in time: {_count(engine, txn_header)} feeds uploaded, runs "
                            f"{[(r.run_id, r.status) for r in runs]}\n{second_log.read_text(errors='replace')}")
            time.sleep(1)

    assert len(runs) == expected_runs and {run.status for run in runs} == {DagsterRunStatus.SUCCESS}
    if expected_runs == 1:  # the run the interrupted tick reserved: the tick was resumed
        assert [run.run_id for run in runs] == list(tick.tick_data.reserved_run_ids)
    else:  # a run per feed, keyed by it
        assert sorted(run.tags["dagster/run_key"] for run in runs) == header_ids
    # Every feed once: one header each, its two transactions, one materialization per partition.
    assert sorted(rows(engine, txn_header, "header_id")) == [(h,) for h in header_ids]
    with engine.connect() as conn:
        per_feed = dict(conn.execute(select(txn_detail.c.header_id, func.count())
                                     .group_by(txn_detail.c.header_id)).all())
    assert per_feed == {h: 2 for h in header_ids}
    assert _count(engine, txn_detail, txn_detail.c.status != "COMP") == 0 and _count(engine, txn_detail_stg) == 0
    for asset in ("staged_feed", "aggregation_cleanup"):
        events = instance.fetch_materializations(AssetKey(asset), limit=10 * DAEMON_FEEDS).records
        assert Counter(e.partition_key for e in events) == {h: 1 for h in header_ids}
    # The open aggregated charges hold each feed's wire once: 10 + 20 + 30 = 60.00. A1's is
    # RITA, 0.1 % per wire: 0.01 + 0.02 + 0.03; PARENT1's is AGTR, 3 wires × 0.10. Each card
    # payment has its own charge: 10.00 × 1 % = 0.10, raised to the minimum of 0.25.
    assert [c for c in charge_sums(engine) if c[1] != "CARD_FEE"] == [
        ("A1", "WIRE_FEE", DAEMON_FEEDS, D(DAEMON_FEEDS), D("60.00"), D("0.06")),
        ("PARENT1", "WIRE_PARENT", DAEMON_FEEDS, D(DAEMON_FEEDS), D("60.00"), D("0.30")),
    ]
    assert _count(engine, bill_chg, bill_chg.c.price_item_cd == "CARD_FEE", bill_chg.c.charge_amount == D("0.25")) \
        == DAEMON_FEEDS
    assert not list(billing_home.inbox.glob("*.ctl.json"))

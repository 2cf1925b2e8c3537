"""Two feeds into the same aggregated charges, processed at the same time in two processes,
end with the charges that processing them one after the other gives (hand-computed); a feed's
aggregation and its cancellation, launched one while the other runs, do not interleave."""

import multiprocessing
import threading
from decimal import Decimal as D
from pathlib import Path

from click.testing import CliRunner

from billing.cli import main
from billing.feeds.inbox import identify
from jobs.launch import dagster_instance, run_feed_job
from tests.corrections import transaction_statuses
from tests.crash import (
    billing_command,
    feed_process,
    holding,
    on_postgresql,
    stopped_process,
    tables,
    waiting_session,
)
from tests.world import BUSINESS_DATE, charge_sums, load_world, write_feed

FIRST_ROWS = ["W1,2026-11-05,A1,WIRE,USD,1234.56,1,", "W3,2026-11-07,A1,WIRE,USD,0.55,2,"]
SECOND_ROWS = ["W2,2026-11-06,A2,WIRE,USD,100.05,1,", "W4,2026-11-15,A1,WIRE,USD,10.00,1,"]


def _process(control: str, start) -> None:
    from dagster import DagsterInstance

    from jobs.launch import run_aggregation

    instance, feed = DagsterInstance.ephemeral(), identify(Path(control))
    start.wait(timeout=120)  # both runs begin together, once both processes are ready
    outcome = run_aggregation(instance, feed, BUSINESS_DATE)
    raise SystemExit(0 if outcome.success else 1)


def test_two_feeds_sharing_charges_at_the_same_time(engine, billing_home, tmp_path):
    load_world(engine, tmp_path / "reference")
    first = write_feed(tmp_path / "x", "x", FIRST_ROWS)
    second = write_feed(tmp_path / "y", "y", SECOND_ROWS)
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(2)
    workers = [spawn.Process(target=_process, args=(str(control), start)) for control in (first, second)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [worker.exitcode for worker in workers] == [0, 0]
    assert charge_sums(engine) == [
        # RITA: round(1234.56 × 0.001) + round(0.55 × 0.001) + round(10.00 × 0.001) = 1.23 + 0.00 + 0.01
        ("A1", "WIRE_FEE", 3, D(4), D("1245.11"), D("1.24")),
        ("A2", "WIRE_FEE", 1, D(1), D("100.05"), D("0.10")),
        # AGTR on the total: 4 legs × 0.10, one charge however the feeds interleave
        ("PARENT1", "WIRE_PARENT", 4, D(5), D("1345.16"), D("0.40")),
    ]


# A feed's aggregation and its cancellation never interleave: the later of the two runs is
# refused at its first step, changing nothing (billing_assets/feed_exclusion.py). The test
# holds bill_chg so that the earlier run waits inside its charges step (tests/crash.py), and
# launches the other meanwhile, as an operator would from the command line.
HOLD_CHARGES = "LOCK TABLE bill_chg IN EXCLUSIVE MODE"
# The first feed's charges alone: what is left once the second feed is cancelled.
FIRST_ALONE = [
    # RITA: round(1234.56 × 0.001) + round(0.55 × 0.001) = 1.23 + 0.00
    ("A1", "WIRE_FEE", 2, D(3), D("1235.11"), D("1.23")),
    # AGTR: 2 legs × 0.10
    ("PARENT1", "WIRE_PARENT", 2, D(3), D("1235.11"), D("0.20")),
]


def _two_feeds(engine, tmp_path) -> tuple[str, Path]:
    """The world with the first feed processed; the second written, not yet submitted."""
    load_world(engine, tmp_path / "reference")
    feed_process(write_feed(tmp_path / "x", "x", FIRST_ROWS))
    second = write_feed(tmp_path / "y", "y", SECOND_ROWS)
    return identify(second).header_id, second


def _refused_in_time(launch):
    """``launch()``'s result, which must come within a minute: a later run that was not refused
    would wait on the test's lock for as long as the test holds it."""
    result = []
    later = threading.Thread(target=lambda: result.append(launch()), daemon=True)
    later.start()
    later.join(timeout=60)
    assert result, "the later run did not come back within a minute: it was not refused, it waits on the earlier one"
    return result[0]


def _ended(process, log: Path) -> None:
    assert process.wait(timeout=300) == 0, log.read_text(errors="replace")


def _cancelled(engine, header_id: str) -> None:
    """The second feed cancelled, the first feed's charges as they were."""
    assert charge_sums(engine) == FIRST_ALONE
    assert set(transaction_statuses(engine, header_id).values()) == {"CNCL"}


@on_postgresql("a lock held by the test keeps the first run inside its charges step (tests/crash.py)")
def test_a_cancellation_launched_while_its_feed_aggregates_is_refused_and_changes_nothing(engine, billing_home,
                                                                                           tmp_path):
    header_id, second = _two_feeds(engine, tmp_path)
    log = tmp_path / "aggregation.log"
    args = ["feed", "process", str(second), "--business-date", BUSINESS_DATE.isoformat()]
    with holding(engine, HOLD_CHARGES) as lock, stopped_process(billing_command(args, log)) as aggregation:
        waiting_session(engine, aggregation, log)
        before = tables(engine)
        refused = _refused_in_time(lambda: CliRunner().invoke(main, ["feed", "cancel", header_id]))
        assert refused.exit_code == 1, refused.output
        assert f"feed {header_id} is being aggregated by run" in refused.output
        assert "nothing was changed; cancel it again once that run has ended" in refused.output
        assert tables(engine) == before
        lock.rollback()  # the aggregation goes on
        _ended(aggregation, log)
    assert set(transaction_statuses(engine, header_id).values()) == {"COMP"}  # the aggregation went on, whole

    done = CliRunner().invoke(main, ["feed", "cancel", header_id])
    assert done.exit_code == 0, done.output
    _cancelled(engine, header_id)


@on_postgresql("a lock held by the test keeps the first run inside its charges step (tests/crash.py)")
def test_an_aggregation_launched_while_its_feed_is_cancelled_is_refused_and_changes_nothing(engine, billing_home,
                                                                                             tmp_path):
    header_id, second = _two_feeds(engine, tmp_path)
    feed_process(second)
    log = tmp_path / "cancellation.log"
    args = ["feed", "cancel", header_id]
    with holding(engine, HOLD_CHARGES) as lock, stopped_process(billing_command(args, log)) as cancellation:
        waiting_session(engine, cancellation, log)
        before = tables(engine)
        outcome = _refused_in_time(lambda: run_feed_job(dagster_instance(), "aggregation_job", header_id,
                                                        BUSINESS_DATE))
        assert not outcome.success
        assert f"feed {header_id} is being cancelled by run" in " ".join(outcome.failures)
        assert tables(engine) == before
        lock.rollback()  # the cancellation goes on
        _ended(cancellation, log)
    _cancelled(engine, header_id)

"""Two feeds into the same aggregated charges, processed at the same time in two processes,
end with the charges that processing them one after the other gives (hand-computed)."""

import multiprocessing
from decimal import Decimal as D

from tests.world import BUSINESS_DATE, charge_sums, load_world, write_feed


def _process(control: str, start) -> None:
    from pathlib import Path

    from dagster import DagsterInstance

    from billing.feeds.inbox import identify
    from jobs.launch import run_aggregation

    instance, feed = DagsterInstance.ephemeral(), identify(Path(control))
    start.wait(timeout=120)  # both runs begin together, once both processes are ready
    outcome = run_aggregation(instance, feed, BUSINESS_DATE)
    raise SystemExit(0 if outcome.success else 1)


def test_two_feeds_sharing_charges_at_the_same_time(engine, billing_home, tmp_path):
    load_world(engine, tmp_path / "reference")
    first = write_feed(tmp_path / "x", "x", ["W1,2026-11-05,A1,WIRE,USD,1234.56,1,", "W3,2026-11-07,A1,WIRE,USD,0.55,2,"])
    second = write_feed(tmp_path / "y", "y", ["W2,2026-11-06,A2,WIRE,USD,100.05,1,",
                                              "W4,2026-11-15,A1,WIRE,USD,10.00,1,"])
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

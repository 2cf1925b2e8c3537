"""Throughput of the aggregation job on one large demo feed, or on many small ones.

    python benchmarks/aggregation_benchmark.py --rows 200000
    python benchmarks/aggregation_benchmark.py --rows 200000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/billing_bench
    python benchmarks/aggregation_benchmark.py --feeds 1000 --rows 100
    python benchmarks/aggregation_benchmark.py --rows 200000 --history 1000000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/billing_bench

Builds a fresh billing database (SQLite in a temporary folder by default; with a PostgreSQL
URL the database is created when missing and its ``public`` schema is dropped and recreated),
loads ``sample_data/reference``, writes ONE demo feed of N transactions (timed apart, in a
child process so that its memory does not count against the job), and runs the real
``aggregation_job`` for it on an ephemeral Dagster instance, the way ``billing feed
process`` does. With ``--feeds K`` it writes K feeds of N transactions, drops them in the
inbox, lets the real feed sensor batch them into runs (up to FEEDS_PER_RUN feeds each) and
runs those in turn; the step times are then summed over the runs. With ``--history H`` one
earlier feed of H transactions is processed first, untimed: the feed measured then lands in a
database holding a day's work, as in production (the floor still starts from an empty table).
Step times come from the runs' event logs (STEP_SUCCESS durations).

Prints: the database kind, the setup timings, one line per step (seconds and transactions
per second), the job's wall time, the floor on the same database and data file
(benchmarks/floor.py: COPY, one legs INSERT … SELECT, one GROUP BY, one UPDATE) and the job
as a multiple of it, the bare writes the steps' grain implies (benchmarks/step_writes.py)
and the job as a multiple of those, the transactions by status at the end, and peak memory;
with ``--profile-sql K`` also the K slowest SQL statements of the job. Whatever Dagster
logs to the console goes to stderr.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks._shared import maxrss_mib, prepare_postgres, print_steps, rate, step_times  # noqa: E402
from benchmarks.floor import STEPS as FLOOR_STEPS, measure_floor  # noqa: E402
from benchmarks.step_writes import measure_step_writes  # noqa: E402

REFERENCE = REPO_ROOT / "sample_data" / "reference"
BUSINESS_DATE = date(2026, 11, 21)
HEADER_DATE = date(2026, 11, 20)
TXN_DATES = (date(2026, 11, 1), date(2026, 11, 20))
DIVISION = "US"
SOURCE = "BANKA"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="transactions in each feed (default 200000)")
    parser.add_argument("--feeds", type=int, default=1,
                        help="feeds of --rows transactions each (default 1); more than one go through the feed sensor")
    parser.add_argument("--database-url", default=None,
                        help="billing database (default: a SQLite file in a temporary folder); a PostgreSQL "
                        "database is created if missing and its public schema is DROPPED and recreated")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (feed files, SQLite file)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the feed (default 1)")
    parser.add_argument("--bad-fraction", type=float, default=0.02,
                        help="share of problem rows in the feed (default 0.02, the demo's default)")
    parser.add_argument("--history", type=int, default=0, metavar="H",
                        help="first process (untimed) one earlier feed of H transactions, so that the feed "
                        "measured lands in a database that already holds a day's work (default 0: empty)")
    parser.add_argument("--profile-sql", type=int, default=0, metavar="K",
                        help="also time every SQL statement of the job and print the K slowest")
    return parser.parse_args(argv)


def _generate(folder: str, feeds: int, rows: int, seed: int, bad_fraction: float, history: int, queue) -> None:
    """Child process: write the feeds (and the history feed, in a folder of its own, first in
    the list when asked for); report (control paths, seconds, peak RSS MiB)."""
    from billing.demo.feeds import write_feed

    started = time.perf_counter()
    controls = []
    if history:
        _, control = write_feed(
            Path(folder).parent / "history", "history", external_header_id=f"HISTORY-{history}", source=SOURCE,
            division=DIVISION, header_date=HEADER_DATE, n=history, seed=seed + 10_000, bad_fraction=bad_fraction,
            txn_dates=TXN_DATES,
        )
        controls.append(str(control))
    for number in range(feeds):
        suffix = "" if feeds == 1 else f"-{number:05d}"
        _, control = write_feed(
            Path(folder), f"bench{suffix}",
            external_header_id=f"BENCH-{rows}{suffix}", source=SOURCE, division=DIVISION, header_date=HEADER_DATE,
            n=rows, seed=seed + number, bad_fraction=bad_fraction, txn_dates=TXN_DATES,
        )
        controls.append(str(control))
    queue.put((controls, time.perf_counter() - started, maxrss_mib(resource.RUSAGE_SELF)))


def _generate_in_child(folder: Path, feeds: int, rows: int, seed: int, bad_fraction: float,
                       history: int) -> tuple[list[Path], float, float]:
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_generate, args=(str(folder), feeds, rows, seed, bad_fraction, history, queue))
    child.start()
    controls, seconds, rss = queue.get()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"feed generation failed (exit code {child.exitcode})")
    return [Path(c) for c in controls], seconds, rss


def _run_one_feed(instance, control: Path):
    """The way ``billing feed process`` runs a feed: ([header id], [outcome])."""
    from jobs.launch import run_aggregation, stage_for_processing

    feed = stage_for_processing(control)
    outcome = run_aggregation(instance, feed, BUSINESS_DATE)
    return [feed.header_id], [outcome]


def _run_through_sensor(instance, controls: list[Path]):
    """Drop the feeds in the inbox, let the feed sensor batch them, run its requests here."""
    from dagster import build_sensor_context

    from billing.feeds.inbox import identify, submit
    from billing.settings import billing_paths
    from jobs.launch import run_feed_request
    from resources import BillingDatabase, DocumentNotifier, FeedInbox
    from sensors.feeds import feed_sensor

    inbox = billing_paths().ensure().inbox
    header_ids = [identify(submit(c.with_name(c.name.replace(".ctl.json", ".csv")), c, inbox)).header_id
                  for c in controls]
    context = build_sensor_context(instance=instance, resources={
        "inbox": FeedInbox(), "database": BillingDatabase(), "notifier": DocumentNotifier()})
    tick = feed_sensor(context)
    for request in tick.dynamic_partitions_requests:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return header_ids, [run_feed_request(instance, request, BUSINESS_DATE) for request in tick.run_requests]


def _summed_steps(instance, outcomes) -> list[tuple[str, float, str]]:
    """Each step's seconds summed over the runs, in the order of the first run."""
    totals: dict[str, list] = {}
    for outcome in outcomes:
        for key, seconds, result in step_times(instance, outcome.run_id):
            entry = totals.setdefault(key, [0.0, "ok"])
            entry[0] += seconds
            entry[1] = result if result != "ok" else entry[1]
    return [(key, seconds, result) for key, (seconds, result) in totals.items()]


def _concatenated(csvs: list[Path], target: Path) -> Path:
    """One data file of all the feeds' rows, for the floor."""
    with target.open("w", encoding="utf-8", newline="") as out:
        for number, path in enumerate(csvs):
            with path.open(encoding="utf-8", newline="") as data:
                header = data.readline()
                if number == 0:
                    out.write(header)
                shutil.copyfileobj(data, out)
    return target


class _SqlTimer:
    """Wall time of every statement any engine of this process runs (SQLAlchemy events)."""

    def __init__(self) -> None:
        self.timings: list[tuple[float, str]] = []
        self.enabled = False

    def install(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("_bench_started", []).append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany):
        started = conn.info["_bench_started"].pop()
        if self.enabled:
            self.timings.append((time.perf_counter() - started, statement))

    def report(self, k: int) -> None:
        total = sum(t for t, _ in self.timings)
        print(f"SQL: {len(self.timings):,} statements, {total:.2f} s in all; the {k} slowest:")
        for seconds, statement in sorted(self.timings, reverse=True)[:k]:
            flat = " ".join(statement.split())
            print(f"  {seconds:9.2f} s  {flat[:600]}{' …' if len(flat) > 600 else ''}")


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.rows < 1:
        raise SystemExit("--rows must be at least 1")
    workdir = Path(tempfile.mkdtemp(prefix="billing-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'billing.db'}"
    os.environ["BILLING_HOME"] = str(workdir / "home")
    os.environ["DAGSTER_HOME"] = str(workdir / "dagster")
    os.environ["BILLING_DATABASE_URL"] = url
    (workdir / "dagster").mkdir()

    try:
        # The feed first, in a forked child, before this process imports Dagster or opens
        # a database connection.
        controls, generate_s, generate_rss = _generate_in_child(
            workdir / "drop", args.feeds, args.rows, args.seed, args.bad_fraction, args.history
        )
        history = controls.pop(0) if args.history else None
        data_mib = sum(p.stat().st_size for p in controls[0].parent.iterdir()) / 2**20

        from dagster import DagsterInstance
        from sqlalchemy.engine import make_url

        from billing.db.engine import make_engine
        from billing.db.migrate import upgrade
        from billing.reference.loader import load_reference
        from billing.tfm.report import transactions_by_status
        from jobs.launch import RunOutcome

        kind = make_url(url).get_backend_name()
        if kind == "postgresql":
            prepare_postgres(url)
        engine = make_engine(url)

        started = time.perf_counter()
        upgrade(engine)
        migrate_s = time.perf_counter() - started

        started = time.perf_counter()
        load_reference(engine, REFERENCE)
        reference_s = time.perf_counter() - started

        instance = DagsterInstance.ephemeral()
        history_s = None
        if history is not None:
            started = time.perf_counter()
            _, [earlier] = _run_one_feed(instance, history)
            history_s = time.perf_counter() - started
            if not earlier.success:
                raise SystemExit(f"the history feed failed: {earlier.failures}")

        timer = _SqlTimer()
        if args.profile_sql:
            timer.install()
            timer.enabled = True
        started = time.perf_counter()
        if args.feeds == 1:
            header_ids, outcomes = _run_one_feed(instance, controls[0])
        else:
            header_ids, outcomes = _run_through_sensor(instance, controls)
        job_s = time.perf_counter() - started
        timer.enabled = False
        steps = _summed_steps(instance, outcomes)
        outcome = RunOutcome(",".join(o.run_id for o in outcomes), all(o.success for o in outcomes),
                             [failure for o in outcomes for failure in o.failures])

        with engine.connect() as conn:
            by_status = transactions_by_status(conn, header_ids)
        archived = sorted((workdir / "home" / "archive").glob("*/bench*.csv"))
        floor = measure_floor(engine, archived[0] if len(archived) == 1 else _concatenated(archived, workdir / "all.csv"))
        writes = measure_step_writes(engine, header_ids)
        engine.dispose()

        n = args.rows * args.feeds
        safe_url = make_url(url).render_as_string(hide_password=True)
        print()
        print(f"database        {kind} ({safe_url})")
        feeds = f"header {header_ids[0]}" if args.feeds == 1 else f"{args.feeds:,} feeds of {args.rows:,}"
        print(f"feeds           {n:,} transactions, {data_mib:.1f} MiB, {feeds}, "
              f"bad_fraction {args.bad_fraction}, seed {args.seed}")
        print(f"generate feeds  {generate_s:8.2f} s   {rate(n + args.history, generate_s):>10} tx/s   (child process, "
              f"peak RSS {generate_rss:.0f} MiB)")
        print(f"migrate schema  {migrate_s:8.2f} s")
        print(f"load reference  {reference_s:8.2f} s")
        if history_s is not None:
            print(f"history         {args.history:,} transactions processed first, untimed ({history_s:.2f} s)")
        print(f"runs            {len(outcomes)} (the job wall time includes the feed sensor's tick)"
              if args.feeds > 1 else "runs            1")
        print()
        print_steps(steps, n, "tx/s", job_s, outcome)
        print()
        print("floor: the database alone, same data (benchmarks/floor.py)")
        for step, seconds in floor.items():
            print(f"  {step:<28} {seconds:8.2f} s   {rate(n, seconds):>10} tx/s")
        floor_s = sum(floor.values())
        print(f"  {'floor total':<28} {floor_s:8.2f} s   {rate(n, floor_s):>10} tx/s")
        print(f"job / floor     {job_s / floor_s:8.1f} ×")
        print()
        print("step grain: each step's bare write of its rows (benchmarks/step_writes.py)")
        for step, seconds in writes.items():
            print(f"  {step:<34} {seconds:8.2f} s")
        least_s = floor[FLOOR_STEPS[0]] + floor[FLOOR_STEPS[2]] + sum(writes.values())
        print(f"  {'with the floor load and GROUP BY':<34} {least_s:8.2f} s   {least_s / floor_s:.1f} × the floor")
        print(f"job / step grain {job_s / least_s:7.1f} ×")
        print()
        print("transactions by status")
        for status, entry in by_status.items():
            print(f"  {status:<6} {entry['count']:>10,}  amount {entry['amount']}")
        print(f"  {'total':<6} {sum(e['count'] for e in by_status.values()):>10,}")
        print()
        if args.profile_sql:
            timer.report(args.profile_sql)
            print()
        print(f"peak memory     {maxrss_mib(resource.RUSAGE_SELF):.0f} MiB (this process: setup + job)")
        if args.keep:
            print(f"kept            {workdir}")
        return 0 if outcome.success else 1
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

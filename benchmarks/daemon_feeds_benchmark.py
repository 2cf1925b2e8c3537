"""Many small feeds through the running daemon, as in production.

    python benchmarks/daemon_feeds_benchmark.py --feeds 1000 --rows 100 \\
        --database-url postgresql://postgres@127.0.0.1:5432/billing_bench

Builds a fresh billing database (PostgreSQL: its ``public`` schema is DROPPED and recreated)
with ``sample_data/reference``, and a fresh Dagster instance rendered by ``billing
instance-config`` from the shipped batch_processing.yaml (run logs in the temporary folder;
PostgreSQL storage in the database
``--dagster-database`` of the same server, the run queue, pools, run monitoring). It writes K
demo feeds of N transactions, turns the feed sensor on, starts ``dagster-daemon run``, drops
every feed in the inbox at once and waits until all of them are processed: every feed has
its header, nothing is left in staging, no transaction is INPD, no summary is left and no
aggregation run is queued or running.

Prints the time from the drop to the end, transactions per second, the runs (how many, how
long each took), every step's seconds summed over the runs, the transactions by status, and
the failures if any.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks._shared import prepare_postgres, rate  # noqa: E402

REFERENCE = REPO_ROOT / "sample_data" / "reference"
BIN = Path(sys.executable).parent
POLL_S = 2


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--feeds", type=int, default=1000, help="feeds dropped at once (default 1000)")
    parser.add_argument("--rows", type=int, default=100, help="transactions per feed (default 100)")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/billing_bench",
                        help="billing database on PostgreSQL; its public schema is DROPPED and recreated")
    parser.add_argument("--dagster-database", default="billing_bench_dagster",
                        help="database of the Dagster instance on the same server; DROPPED and recreated")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds to wait for the feeds (default 1800)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (feeds, logs)")
    return parser.parse_args(argv)


def _write_feeds(folder: Path, feeds: int, rows: int) -> list[Path]:
    """In a forked child, before this process imports Dagster: the feeds' control files."""
    def work(queue) -> None:
        from benchmarks.aggregation_benchmark import DIVISION, HEADER_DATE, SOURCE, TXN_DATES
        from billing.demo.feeds import write_feed

        controls = [str(write_feed(folder, f"small-{number:05d}", external_header_id=f"SMALL-{number:05d}",
                                   source=SOURCE, division=DIVISION, header_date=HEADER_DATE, n=rows,
                                   seed=number, txn_dates=TXN_DATES)[1]) for number in range(feeds)]
        queue.put(controls)

    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=work, args=(queue,))
    child.start()
    controls = queue.get()
    child.join()
    return [Path(c) for c in controls]


def _fresh_database(server_url: str, name: str) -> str:
    from sqlalchemy import create_engine, make_url, text

    admin = create_engine(make_url(server_url).set(drivername="postgresql+psycopg2", database="postgres"),
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return make_url(server_url).set(drivername="postgresql+psycopg2", database=name).render_as_string(
        hide_password=False)


def _configuration(workdir: Path) -> Path:
    """The shipped batch_processing.yaml, its run logs under ``workdir/logs``."""
    import yaml

    from billing.operations.config import SHIPPED

    values = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    values["logging"]["log_destinations"]["file_logging"]["log_directory"] = str(workdir / "logs")
    (workdir / "logs").mkdir()
    path = workdir / "batch_processing.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


def _progress(engine, feeds: int) -> tuple[int, int, int, int]:
    """(feeds with a header, rows in staging, INPD transactions, summaries left)."""
    from sqlalchemy import func, select

    from billing.db.schema import txn_detail, txn_detail_stg, txn_header, txn_summary

    with engine.connect() as conn:
        return (conn.execute(select(func.count()).select_from(txn_header)).scalar(),
                conn.execute(select(func.count()).select_from(txn_detail_stg)).scalar(),
                conn.execute(select(func.count()).where(txn_detail.c.status == "INPD")).scalar(),
                conn.execute(select(func.count()).select_from(txn_summary)).scalar())


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="billing-daemon-bench-"))
    home, dagster_home = workdir / "home", workdir / "dagster_home"
    dagster_home.mkdir()
    controls = _write_feeds(workdir / "drop", args.feeds, args.rows)

    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
    from sqlalchemy.engine import make_url

    from benchmarks._shared import step_times
    from billing.db.engine import make_engine
    from billing.db.migrate import upgrade
    from billing.feeds.inbox import submit
    from billing.reference.loader import load_reference
    from billing.tfm.report import transactions_by_status

    env = {**os.environ, "BILLING_HOME": str(home), "DAGSTER_HOME": str(dagster_home),
           "BILLING_DATABASE_URL": args.database_url, "BILLING_CONFIG": str(_configuration(workdir)),
           "DAGSTER_PG_URL": _fresh_database(args.database_url, args.dagster_database)}
    os.environ.update(env)
    prepare_postgres(args.database_url)
    engine = make_engine(args.database_url)
    upgrade(engine)
    load_reference(engine, REFERENCE)
    subprocess.run([BIN / "billing", "instance-config", "--out", str(dagster_home / "dagster.yaml")], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([BIN / "dagster", "sensor", "start", "feed_sensor", "-w", "workspace.yaml"], cwd=REPO_ROOT,
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = (workdir / "daemon.log").open("w")
    daemon = subprocess.Popen([BIN / "dagster-daemon", "run", "-w", "workspace.yaml"], cwd=REPO_ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        time.sleep(5)  # the daemon up before the drop, as in production
        inbox = home / "inbox"
        inbox.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        for control in controls:
            submit(control.with_name(control.name.replace(".ctl.json", ".csv")), control, inbox)
        drop_s = time.perf_counter() - started
        instance = DagsterInstance.get()
        in_flight = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
                     DagsterRunStatus.STARTED]
        while True:
            headers, staged, pending, summaries = _progress(engine, args.feeds)
            busy = instance.get_runs_count(RunsFilter(statuses=in_flight))
            if headers == args.feeds and not (staged or pending or summaries or busy):
                break
            if time.perf_counter() - started > args.timeout:
                print(f"timed out after {args.timeout} s: {headers} feeds uploaded, {staged} rows in staging, "
                      f"{pending} INPD, {busy} runs in flight (daemon log {workdir / 'daemon.log'})")
                return 1
            time.sleep(POLL_S)
        total_s = time.perf_counter() - started
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=60)
        log.close()

    runs = instance.get_run_records(filters=RunsFilter(job_name="aggregation_job"))
    durations = sorted(r.end_time - r.start_time for r in runs if r.start_time and r.end_time)
    steps: dict[str, float] = {}
    for record in runs:
        for key, seconds, _ in step_times(instance, record.dagster_run.run_id):
            steps[key] = steps.get(key, 0.0) + (seconds if seconds == seconds else 0.0)
    failed = [r.dagster_run.run_id for r in runs if r.dagster_run.status != DagsterRunStatus.SUCCESS]
    with engine.connect() as conn:
        by_status = transactions_by_status(conn)
    n = args.feeds * args.rows
    print()
    print(f"database        {make_url(args.database_url).render_as_string(hide_password=True)}")
    print(f"feeds           {args.feeds:,} of {args.rows:,} transactions ({n:,}), dropped in {drop_s:.1f} s")
    print(f"all processed   {total_s:8.1f} s after the drop   {rate(n, total_s):>8} tx/s   "
          f"{args.feeds / total_s:.1f} feeds/s")
    print(f"runs            {len(runs)} ({len(failed)} not successful), each {durations[0]:.1f}–{durations[-1]:.1f} s, "
          f"median {durations[len(durations) // 2]:.1f} s" if durations else f"runs            {len(runs)}")
    print()
    print("step seconds summed over the runs")
    for key, seconds in steps.items():
        print(f"  {key:<50} {seconds:8.2f}")
    print()
    print("transactions by status")
    for status, entry in by_status.items():
        print(f"  {status:<6} {entry['count']:>10,}")
    if failed:
        print(f"runs not successful: {', '.join(failed)}")
    if args.keep:
        print(f"kept            {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    engine.dispose()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

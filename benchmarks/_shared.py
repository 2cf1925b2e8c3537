"""Helpers the benchmark scripts share: a clean PostgreSQL database, step times from a run's
event log, rates and peak memory."""

from __future__ import annotations

import resource


def maxrss_mib(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def prepare_postgres(url: str) -> None:
    """Create the database when missing, then give it an empty ``public`` schema."""
    import psycopg2
    from psycopg2 import sql
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    params = {"host": parsed.host, "port": parsed.port, "user": parsed.username, "password": parsed.password}
    params = {k: v for k, v in params.items() if v is not None}
    maintenance = psycopg2.connect(dbname="postgres", **params)
    try:
        maintenance.autocommit = True
        with maintenance.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,))
            if cur.fetchone() is None:
                cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(parsed.database)))
                print(f"created database {parsed.database}")
    finally:
        maintenance.close()
    target = psycopg2.connect(dbname=parsed.database, **params)
    try:
        target.autocommit = True
        with target.cursor() as cur:
            cur.execute("DROP SCHEMA public CASCADE")
            cur.execute("CREATE SCHEMA public")
    finally:
        target.close()


def step_times(instance, run_id: str) -> list[tuple[str, float, str]]:
    """(step key, seconds, outcome) in the order the steps started."""
    from dagster import DagsterEventType

    started: dict[str, float] = {}
    ended: dict[str, tuple[float, str]] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            started[event.step_key] = record.timestamp
        elif event.event_type == DagsterEventType.STEP_SUCCESS:
            ended[event.step_key] = (event.event_specific_data.duration_ms / 1000, "ok")
        elif event.event_type == DagsterEventType.STEP_FAILURE:
            ended[event.step_key] = (record.timestamp - started.get(event.step_key, record.timestamp), "FAILED")
    keys = sorted(set(started) | set(ended), key=lambda k: started.get(k, float("inf")))
    return [(key, *ended.get(key, (float("nan"), "did not finish"))) for key in keys]


def rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 else "-"


def print_steps(steps: list[tuple[str, float, str]], count: int, unit: str, job_s: float, outcome) -> None:
    """The per-step table of a run: seconds and ``unit`` per second for ``count`` items, the
    sum of the steps, the job's wall time and its failures."""
    width = max([len("step")] + [len(key) for key, _, _ in steps])
    print(f"{'step':<{width}}  {'seconds':>9}  {unit:>10}  outcome")
    print(f"{'-' * width}  {'-' * 9}  {'-' * 10}  -------")
    for key, seconds, result in steps:
        print(f"{key:<{width}}  {seconds:9.2f}  {rate(count, seconds):>10}  {result}")
    steps_total = sum(s for _, s, _ in steps if s == s)
    print(f"{'sum of steps':<{width}}  {steps_total:9.2f}  {rate(count, steps_total):>10}")
    print(f"{'job wall time':<{width}}  {job_s:9.2f}  {rate(count, job_s):>10}  "
          f"{'success' if outcome.success else 'FAILED'}")
    for failure in outcome.failures:
        print(f"  failure: {failure}")

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

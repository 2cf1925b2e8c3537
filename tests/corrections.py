"""Shared by the rollback, cancellation and disaggregation tests: the feeds, the tables as
the tests compare them, and the jobs run as the CLI runs them (re-aggregation and bill
rebuilds included)."""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal

from dagster import DagsterInstance
from sqlalchemy import DateTime, Engine, make_url, select, text

from billing.db.engine import make_engine
from billing.db.migrate import upgrade
from billing.db.schema import bill_chg, metadata, txn_detail, txn_detail_stg, txn_leg
from billing.invoicing.deleted_bills import days_to_rebuild
from billing.tfm.rollback import feeds_to_reaggregate
from jobs.launch import run_bill_rebuild, run_feed_job
from tests.world import BUSINESS_DATE, REFERENCE_TABLES, rows

# Every table a job may change: all but the reference data and what is derived from it, and
# the operations records that commands and the run monitor write beside the jobs (the audit
# trail of every command, alerts, the execution log, the breaker).
OPERATIONS_RECORDS = {"audit_log", "alert_log", "batch_execution_log", "batch_performance_metrics", "circuit_breaker"}
UNCHANGED_BY_JOBS = REFERENCE_TABLES | {"pricing_effective", "pricing_effective_build"} | OPERATIONS_RECORDS


def billing_state(engine: Engine) -> dict[str, list[tuple]]:
    """The full contents of every table the jobs write, for before/after comparisons — but
    for wall-clock stamps (when a day was closed, a document sent), which no re-run repeats."""
    with engine.connect() as conn:
        return {
            table.name: sorted(conn.execute(select(*(c for c in table.columns
                                                     if not isinstance(c.type, DateTime)))).all(), key=repr)
            for table in metadata.sorted_tables if table.name not in UNCHANGED_BY_JOBS
        }


def charges(engine: Engine, *, with_ids: bool = False) -> list[tuple]:
    """Charges as (account, price item, param, start, end, status, count, volume, amount,
    charge amount), sorted; money as text so both backends compare alike."""
    c = bill_chg
    found = rows(engine, c, "bill_chg_id", "account_id", "price_item_cd", "param_value", "start_dt", "end_dt",
                 "status", "txn_count", "txn_volume", "txn_amount", "charge_amount")
    shaped = [(*r[1:4], str(r[4]), str(r[5]), r[6], r[7], _text(r[8]), _text(r[9]), _text(r[10])) for r in found]
    if with_ids:
        shaped = [(r[0], *s) for r, s in zip(found, shaped)]
    return sorted(shaped, key=repr)


def _text(value) -> str | None:
    return None if value is None else f"{Decimal(value):.2f}"


def transaction_statuses(engine: Engine, header_id: str) -> dict[str, str]:
    result = {}
    for table in (txn_detail, txn_detail_stg):
        for external_id, status in rows(engine, table, "external_txn_id", "status",
                                        where=table.c.header_id == header_id):
            result[external_id] = status
    return result


def legs(engine: Engine, header_id: str) -> list[tuple]:
    """(leg_id, account, price item, status, charged) of the feed's legs."""
    found = rows(engine, txn_leg, "leg_id", "account_id", "price_item_cd", "status", "bill_chg_id",
                 where=txn_leg.c.header_id == header_id)
    return [(leg_id, account, item, status, charge is not None) for leg_id, account, item, status, charge in found]


def follow_up(engine: Engine, instance: DagsterInstance) -> None:
    """What ``billing rollback|disaggregate|feed cancel`` run after their job: the feeds with
    transactions back in staging re-aggregated, then the deleted pending bills rebuilt."""
    with engine.connect() as conn:
        waiting = feeds_to_reaggregate(conn, BUSINESS_DATE)
    for header_id, _ in waiting:
        outcome = run_feed_job(instance, "aggregation_job", header_id, BUSINESS_DATE)
        assert outcome.success, outcome.failures
    with engine.connect() as conn:
        days = days_to_rebuild(conn)
    for day, _ in days:
        outcome = run_bill_rebuild(instance, day)
        assert outcome.success, outcome.failures


@contextmanager
def killed_after(monkeypatch, module, name: str):
    """While the block runs, ``module.name`` does its work, then dies as a killed process
    would: its step's transaction is rolled back."""
    real = getattr(module, name)

    def dies(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError(f"killed right after {name}")

    monkeypatch.setattr(module, name, dies)
    yield
    monkeypatch.setattr(module, name, real)


def twin_database(db_url: str, tmp_path, monkeypatch) -> Engine:
    """A second empty, migrated billing database on the same backend, made the one the jobs
    use (``BILLING_DATABASE_URL``): the same day replayed there — killed part-way — must end
    exactly like the clean run in the first."""
    if db_url.startswith("sqlite"):
        twin = f"sqlite:///{tmp_path / 'twin.db'}"
    else:
        base = make_url(db_url)
        name = f"{base.database}_twin"
        admin = make_engine(base.set(database="postgres").render_as_string(hide_password=False))
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        twin = base.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(twin)
    upgrade(engine)
    monkeypatch.setenv("BILLING_DATABASE_URL", twin)
    return engine

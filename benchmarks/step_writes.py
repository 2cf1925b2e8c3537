"""The writes DESIGN §5 gives the aggregation's steps, each alone, measured on the job's own
tables after the run: what the step grain costs before any of our code's own work.

Every step is a separate, restartable asset that leaves its result in the contract's tables
(DESIGN §4: ``txn_detail``, ``txn_leg`` with its ``summary_id``, status, SQIs and
``bill_chg_id``, ``bill_chg``), so each one writes its rows again: the transactions once moved
out of staging and once marked, the legs once inserted and then once by each of C1-TXNPS,
C1-TXNEX, C1-TXNSQ and C1-TXNCM, and the charges once. Each write below is that statement and
nothing else — no look-up, no check — over the measured feeds' rows, with the real tables'
indexes (a leg with only what C1-TXNIP gives it; an insert's rows read from a temporary copy
made untimed), in a transaction that is rolled back (on PostgreSQL the table is then
vacuumed, untimed), so the database is left as the job left it. The load of the file and the
summary's ``GROUP BY`` are the floor's (benchmarks/floor.py): their sum with these is the
least a run of the step grain can take.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import Column, Engine, MetaData, Table, insert, select, update

from billing.db.schema import bill_chg, txn_detail, txn_leg
from billing.tfm.derive_legs import DERIVED_LEG_COLUMNS

# Added to the copies' keys: clear of any id the job hands out.
_OFFSET = 10**15


def measure_step_writes(engine: Engine, header_ids: Sequence[str]) -> dict[str, float]:
    """Seconds of each step's bare write over the feeds' rows, on ``engine``'s database."""
    d, leg, c = txn_detail, txn_leg, bill_chg
    of_feeds = leg.c.header_id.in_(header_ids)
    writes = {
        "C1-TXNIP transactions (INSERT)": _copied(d, d.c.header_id.in_(header_ids)),
        "C1-TXNIP legs (INSERT)": _copied(leg, of_feeds, DERIVED_LEG_COLUMNS),
        "C1-TXNPS summary_id (UPDATE)": _updated(update(leg).where(of_feeds).values(summary_id=leg.c.summary_id)),
        "C1-TXNEX status, SQIs (UPDATE)": _updated(
            update(leg).where(of_feeds).values(status=leg.c.status, error_code=leg.c.error_code,
                                               sqi_amount=leg.c.sqi_amount, calc_amount=leg.c.calc_amount)
        ),
        "C1-TXNSQ charges (INSERT)": _copied(c, c.c.bill_chg_id.in_(select(leg.c.bill_chg_id).where(of_feeds))),
        # A changed value, as the step's is: the index on bill_chg_id is written too.
        "C1-TXNSQ bill_chg_id (UPDATE)": _updated(
            update(leg).where(of_feeds).values(bill_chg_id=leg.c.bill_chg_id + _OFFSET)
        ),
        "C1-TXNCM COMP (2 UPDATEs)": _updated(
            update(leg).where(of_feeds).values(status=leg.c.status),
            update(d).where(d.c.header_id.in_(header_ids)).values(status=d.c.status),
        ),
    }
    timings = {}
    with engine.connect() as conn:
        for name, prepare in writes.items():
            with conn.begin() as transaction:
                statements = prepare(conn)  # untimed
                started = time.perf_counter()
                for statement in statements:
                    conn.execute(statement)
                timings[name] = time.perf_counter() - started
                transaction.rollback()
            _vacuum(engine, {statement.table.name for statement in statements})
    return timings


def _updated(*statements):
    return lambda _conn: statements


def _copied(table: Table, where, names: Sequence[str] | None = None):
    """The rows under ``where`` (their columns ``names``, or all) first copied, untimed, into
    a temporary table, so that the timed ``INSERT … SELECT`` writes them back under new keys
    without looking them up. The rollback drops the temporary table too."""
    columns = [table.c[name] for name in names] if names else list(table.c)
    [key] = table.primary_key.columns

    def prepare(conn):
        rows = Table(f"step_{table.name}", MetaData(), *(Column(column.name, column.type) for column in columns),
                     prefixes=["TEMPORARY"])
        rows.create(conn)
        conn.execute(insert(rows).from_select([column.name for column in columns], select(*columns).where(where)))
        values = [rows.c[column.name] + _OFFSET if column is key else rows.c[column.name] for column in columns]
        return [insert(table).from_select([column.name for column in columns], select(*values))]

    return prepare


def _vacuum(engine: Engine, tables: set[str]) -> None:
    """PostgreSQL keeps the rolled-back rows until a vacuum: without one, each later write
    would scan the earlier ones' dead rows too. (SQLite's rollback leaves nothing behind.)"""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in sorted(tables):
            conn.exec_driver_sql(f"VACUUM {table}")

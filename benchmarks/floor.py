"""The floor of issue 8: what the database itself needs for the bare work of aggregating a
feed, measured on the same database and the same data file as the job, so that the job's time
can be read as a multiple of it.

Four statements, each timed with its commit: the data file loaded into a keyed table
(PostgreSQL ``COPY``; SQLite one ``executemany`` of the CSV's tuples, the fastest path Python
has), two legs per transaction derived with one ``INSERT … SELECT``, a ``GROUP BY`` summary of
the legs, and one status ``UPDATE`` of every transaction. Scratch tables ``floor_*`` are
dropped afterwards.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

COLUMNS = ("external_txn_id", "txn_datetime", "account_id", "product_code", "currency", "amount", "volume",
           "channel", "reference", "merchant_category")
STEPS = ("load (COPY | executemany)", "legs (INSERT … SELECT)", "summary (GROUP BY)", "status (UPDATE)")

_TABLE = ("CREATE TABLE floor_txn (row_no {identity} PRIMARY KEY, "
          + ", ".join(f"{c} TEXT" for c in COLUMNS) + ", status TEXT)")
_LEGS = """CREATE TABLE floor_leg (leg_id BIGINT PRIMARY KEY, row_no BIGINT NOT NULL, account_id TEXT,
    product_code TEXT, currency TEXT, amount NUMERIC)"""
_DERIVE = """INSERT INTO floor_leg
    SELECT t.row_no * 2 + k.n, t.row_no, t.account_id, t.product_code, t.currency,
           CASE WHEN k.n = 0 THEN {amount} ELSE -{amount} END
    FROM floor_txn t CROSS JOIN (SELECT 0 AS n UNION ALL SELECT 1) k"""
_SUMMARY = """CREATE TABLE floor_summary AS
    SELECT account_id, product_code, currency, count(*) AS legs, sum(amount) AS amount
    FROM floor_leg GROUP BY account_id, product_code, currency"""
_STATUS = "UPDATE floor_txn SET status = 'COMP'"
_DROP = ("floor_summary", "floor_leg", "floor_txn")

# The amount as a number where it is one (the feed has bad rows on purpose).
_AMOUNT = {"postgresql": "CASE WHEN t.amount ~ '^-?[0-9]+(\\.[0-9]+)?$' THEN t.amount::numeric END",
           "sqlite": "CAST(t.amount AS NUMERIC)"}
_IDENTITY = {"postgresql": "BIGINT GENERATED ALWAYS AS IDENTITY", "sqlite": "INTEGER"}


def measure_floor(engine, data_csv: Path) -> dict[str, float]:
    """Seconds of each floor statement on ``engine``'s database for ``data_csv``. The file is
    first rewritten, untimed, with every row at the header's width (the feed's bad rows are
    short on purpose; the job copes with them, COPY would not)."""
    kind = engine.dialect.name
    data_csv = _rectangular(data_csv)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for table in _DROP:
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(_TABLE.format(identity=_IDENTITY[kind]))
        cursor.execute(_LEGS)
        raw.commit()
        timings = {}

        def timed(step: str, work) -> None:
            started = time.perf_counter()
            work()
            raw.commit()
            timings[step] = time.perf_counter() - started

        timed(STEPS[0], lambda: _load(kind, cursor, data_csv))
        timed(STEPS[1], lambda: cursor.execute(_DERIVE.format(amount=_AMOUNT[kind])))
        timed(STEPS[2], lambda: cursor.execute(_SUMMARY))
        timed(STEPS[3], lambda: cursor.execute(_STATUS))
        for table in _DROP:
            cursor.execute(f"DROP TABLE {table}")
        raw.commit()
        return timings
    finally:
        raw.close()


def _load(kind: str, cursor, data_csv: Path) -> None:
    columns = ", ".join(COLUMNS)
    with data_csv.open(encoding="utf-8", newline="") as data:
        if kind == "postgresql":
            cursor.copy_expert(f"COPY floor_txn ({columns}) FROM STDIN WITH (FORMAT csv, HEADER true)", data)
            return
        rows = csv.reader(data)
        next(rows)
        cursor.executemany(f"INSERT INTO floor_txn ({columns}) VALUES ({', '.join('?' * len(COLUMNS))})", rows)


def _rectangular(data_csv: Path) -> Path:
    """A copy of ``data_csv`` beside it whose rows all have the header's columns."""
    copy = data_csv.with_name(f"floor-{data_csv.name}")
    with data_csv.open(encoding="utf-8", newline="") as source, copy.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        for row in csv.reader(source):
            writer.writerow(row[:len(COLUMNS)] + [""] * (len(COLUMNS) - len(row)))
    return copy

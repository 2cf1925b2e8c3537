"""The batch execution log and performance metrics (``logging.log_destinations.database_logging``):
one row per finished run in ``batch_execution_log`` and one in ``batch_performance_metrics``,
with the records the run processed, per hour of run time, and the share of them in error.

What a record is depends on the job: a transaction of the feed for the feed jobs, a row of the
payment file, a bill of the day for the close of day and invoicing. Jobs without a natural
record count log their run and duration only. Writing a run again changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Connection, distinct, func, select

from billing.db.schema import (
    batch_execution_log,
    batch_performance_metrics,
    bill,
    bill_segment,
    payment_file,
    txn_detail,
)
from billing.db.upsert import insert_new

FEED_JOBS = ("aggregation_job", "cancellation_job")
DAY_JOBS = ("closeofday_job", "invoice_generation_job", "rebuild_bills_job")


@dataclass(frozen=True)
class Figures:
    records: int | None = None
    error_records: int | None = None

    @property
    def error_rate_pct(self) -> Decimal | None:
        if not self.records or self.error_records is None:
            return None
        return (Decimal(self.error_records) * 100 / self.records).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class FinishedRun:
    run_id: str
    job_name: str
    partition_key: str | None
    status: str
    started_at: datetime | None
    ended_at: datetime | None
    steps_succeeded: int
    steps_failed: int
    message: str | None = None

    @property
    def duration_seconds(self) -> Decimal:
        if self.started_at is None or self.ended_at is None:
            return Decimal("0.000")
        return Decimal(str((self.ended_at - self.started_at).total_seconds())).quantize(Decimal("0.001"))


def feed_figures(conn: Connection, header_ids: Sequence[str]) -> Figures:
    """The transactions of the feeds (one, or a batched run's), and those in ``EROR``."""
    total, errors = conn.execute(
        select(func.count(), func.count().filter(txn_detail.c.status == "EROR"))
        .where(txn_detail.c.header_id.in_(header_ids))
    ).one()
    return Figures(total, errors)


def run_figures(conn: Connection, job_name: str, partition_keys: Sequence[str]) -> Figures:
    """What the run of ``job_name`` for its partitions (one; several feeds for a batched run)
    processed, as it stands now."""
    if not partition_keys:
        return Figures()
    if job_name in FEED_JOBS:
        return feed_figures(conn, partition_keys)
    partition_key = partition_keys[0]
    if job_name == "payments_job":
        found = conn.execute(select(payment_file.c.row_count, payment_file.c.rejected)
                             .where(payment_file.c.file_id == partition_key)).first()
        return Figures(*found) if found else Figures()
    if job_name in DAY_JOBS:
        day = date.fromisoformat(partition_key)
        bills, in_error = conn.execute(
            select(func.count(distinct(bill.c.bill_id)),
                   func.count(distinct(bill_segment.c.bill_id)).filter(bill_segment.c.status == "ERROR"))
            .select_from(bill.outerjoin(bill_segment, bill_segment.c.bill_id == bill.c.bill_id))
            .where(bill.c.bill_dt == day)
        ).one()
        return Figures(bills, in_error)
    return Figures()


def record_run(conn: Connection, run: FinishedRun, figures: Figures) -> bool:
    """Log ``run`` and its figures, once; True when it was not logged yet."""
    logged = insert_new(conn, batch_execution_log, [{
        "run_id": run.run_id, "job_name": run.job_name, "partition_key": run.partition_key, "status": run.status,
        "started_at": run.started_at, "ended_at": run.ended_at, "steps_succeeded": run.steps_succeeded,
        "steps_failed": run.steps_failed, "message": run.message,
    }])
    duration = run.duration_seconds
    per_hour = None
    if figures.records is not None and duration > 0:
        per_hour = int(Decimal(figures.records) * 3600 / duration)
    insert_new(conn, batch_performance_metrics, [{
        "run_id": run.run_id, "job_name": run.job_name, "partition_key": run.partition_key,
        "duration_seconds": duration, "records": figures.records, "records_per_hour": per_hour,
        "error_records": figures.error_records, "error_rate_pct": figures.error_rate_pct,
    }])
    return bool(logged)

"""finalize_billing: pending bills whose review period has passed become ``COMPLETE``.

A bill dated on or before D − review days, with no segment in ``ERROR``, is completed on
day D: its segments become ``FROZEN`` and it gets the next invoice number of its division
and year, ``{division}-{year of bill_dt}-{000001}``. Numbers are gap-free: each division and
year has a row-locked counter advanced in the same transaction, and the bills completed
together are numbered in (bill_dt, account_id) order.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection, and_, exists, func, literal, select, update

from billing.db.bulk import analyze
from billing.db.calendar import zero_padded
from billing.db.engine import allocate_ids
from billing.db.schema import bill, bill_segment

INVOICE_DIGITS = 6


def finalize_bills(conn: Connection, day: date, review_days: int = 0) -> dict[str, int]:
    cutoff = day - timedelta(days=review_days)
    ready = and_(
        bill.c.status == "PENDING",
        bill.c.bill_dt <= cutoff,
        ~exists().where(bill_segment.c.bill_id == bill.c.bill_id, bill_segment.c.status == "ERROR"),
    )
    groups = sorted({(division, bill_dt.year) for division, bill_dt in conn.execute(
        select(bill.c.division_cd, bill.c.bill_dt).where(ready).distinct())})
    completed = 0
    for division, year in groups:  # one statement per division and year, never per bill
        in_group = and_(ready, bill.c.division_cd == division,
                        bill.c.bill_dt.between(date(year, 1, 1), date(year, 12, 31)))
        count = conn.execute(select(func.count()).where(in_group)).scalar()
        first = allocate_ids(conn, f"invoice:{division}:{year}", count)
        numbered = (
            select(bill.c.bill_id,
                   (literal(first - 1) + func.row_number().over(order_by=(bill.c.bill_dt, bill.c.account_id)))
                   .label("n"))
            .where(in_group)
            .subquery()
        )
        completed += conn.execute(
            update(bill)
            .where(bill.c.bill_id == numbered.c.bill_id)
            .values(status="COMPLETE", completed_dt=day,
                    invoice_number=literal(f"{division}-{year}-") + zero_padded(numbered.c.n, INVOICE_DIGITS))
        ).rowcount
    frozen = conn.execute(
        update(bill_segment)
        .where(bill_segment.c.status == "FREEZABLE",
               exists().where(bill.c.bill_id == bill_segment.c.bill_id, bill.c.status == "COMPLETE",
                              bill.c.completed_dt == day))
        .values(status="FROZEN")
    ).rowcount
    analyze(conn, bill)
    return {"bills_completed": completed, "segments_frozen": frozen}

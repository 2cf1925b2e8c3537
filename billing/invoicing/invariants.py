"""The invariants of a close of day's bills, for the asset checks (each returns violations).

* every ``BILLABLE`` charge of an account billed on the day that ends in the bill's window
  (or earlier) is on a bill;
* each bill's subtotal is the sum of its valued segments and its total is subtotal + tax;
* no charge is on two bills (the unique index on ``bill_segment.bill_chg_id`` enforces it;
  the check reports it should that guarantee ever be lost).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, and_, exists, func, literal, or_, select

from billing.db.money import dadd, dsign, dsub, dsum
from billing.db.schema import bill, bill_chg, bill_segment

SAMPLE = 5


def unbilled_charges(conn: Connection, day: date) -> list[str]:
    c, b = bill_chg, bill
    found = conn.execute(
        select(c.c.bill_chg_id, c.c.account_id, c.c.end_dt, b.c.bill_id)
        .join(b, and_(b.c.account_id == c.c.account_id, b.c.bill_dt == day))
        .where(c.c.status == "BILLABLE", c.c.end_dt <= b.c.window_end,
               ~exists().where(bill_segment.c.bill_chg_id == c.c.bill_chg_id))
        .order_by(c.c.bill_chg_id)
        .limit(SAMPLE)
    ).all()
    return [f"charge {charge} of account {account} ended {end_dt} but is not on bill {bill_id}"
            for charge, account, end_dt, bill_id in found]


def bill_totals_off(conn: Connection, day: date | None = None) -> list[str]:
    """Bills (of ``day``, or all) whose subtotal or total does not add up."""
    s, b = bill_segment, bill
    sums = (
        select(s.c.bill_id, dsum(s.c.amount).label("segments"))
        .where(s.c.status != "ERROR")
        .group_by(s.c.bill_id)
        .subquery()
    )
    segments = func.coalesce(sums.c.segments, literal(0))
    found = conn.execute(
        select(b.c.bill_id, b.c.subtotal, b.c.tax_amount, b.c.total_amount, segments)
        .select_from(b.outerjoin(sums, sums.c.bill_id == b.c.bill_id))
        .where(or_(dsign(dsub(b.c.subtotal, segments)) != 0,
                   dsign(dsub(b.c.total_amount, dadd(b.c.subtotal, b.c.tax_amount))) != 0),
               *([b.c.bill_dt == day] if day else []))
        .limit(SAMPLE)
    ).all()
    return [f"bill {bill_id}: subtotal {subtotal} + tax {tax} vs total {total}; its segments sum to {sum_}"
            for bill_id, subtotal, tax, total, sum_ in found]


def charges_on_two_bills(conn: Connection, day: date) -> list[str]:
    s = bill_segment
    of_day = select(s.c.bill_chg_id).join(bill, bill.c.bill_id == s.c.bill_id).where(bill.c.bill_dt == day)
    found = conn.execute(
        select(s.c.bill_chg_id, func.count())
        .where(s.c.bill_chg_id.in_(of_day))
        .group_by(s.c.bill_chg_id)
        .having(func.count() > 1)
        .limit(SAMPLE)
    ).all()
    return [f"charge {charge} is on {n} bills" for charge, n in found]

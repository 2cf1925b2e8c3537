"""What a close of day did, for its assets' metadata: the day's bills and their totals."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, func, select

from billing.db.money import dsum
from billing.db.schema import bill, bill_segment

PREVIEW_ROWS = 10


def bills_of_day(conn: Connection, day: date, limit: int = PREVIEW_ROWS) -> list[dict]:
    """The first bills dated ``day``, by account: number, status, totals, segment count."""
    segments = (
        select(bill_segment.c.bill_id, func.count().label("segments"))
        .group_by(bill_segment.c.bill_id)
        .subquery()
    )
    query = (
        select(bill.c.account_id, bill.c.invoice_number, bill.c.status, bill.c.currency_cd, bill.c.subtotal,
               bill.c.tax_amount, bill.c.total_amount, bill.c.due_dt, segments.c.segments)
        .join(segments, segments.c.bill_id == bill.c.bill_id)
        .where(bill.c.bill_dt == day)
        .order_by(bill.c.account_id)
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def bill_totals(conn: Connection, day: date | None = None) -> dict[str, dict]:
    """Bill count and total amount per status and currency, of the bills dated ``day`` (or all)."""
    query = select(bill.c.status, bill.c.currency_cd, func.count(), dsum(bill.c.total_amount))
    if day is not None:
        query = query.where(bill.c.bill_dt == day)
    rows = conn.execute(query.group_by(bill.c.status, bill.c.currency_cd).order_by(bill.c.status, bill.c.currency_cd))
    return {f"{status} {currency}": {"bills": n, "total": total} for status, currency, n, total in rows}

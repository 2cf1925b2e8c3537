"""Invoice preview: what an account's next bill would be, written nowhere.

The preview runs the real bill run (:func:`billing.invoicing.bill_run.create_bills`) for the
one account on its next bill date inside a transaction that is then rolled back, so the
figures are exactly those the close of day will produce — as long as no charge arrives or
changes before then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Engine, Row, select

from billing.db.schema import accounts, bill, bill_chg, bill_cycles, bill_segment
from billing.errors import BillingError
from billing.invoicing.bill_run import create_bills


@dataclass(frozen=True)
class BillPreview:
    bill_dt: date
    bill: Row | None  # None: no charge to bill on that date
    segments: list[Row]


def next_bill_date(close_day: int, as_of: date) -> date:
    """The first date on or after ``as_of`` whose day of the month is ``close_day``."""
    if as_of.day <= close_day:
        return as_of.replace(day=close_day)
    year, month = (as_of.year, as_of.month + 1) if as_of.month < 12 else (as_of.year + 1, 1)
    return date(year, month, close_day)


def preview_bill(engine: Engine, account_id: str, as_of: date) -> BillPreview:
    with engine.connect() as conn, conn.begin() as transaction:
        close_day = conn.execute(
            select(bill_cycles.c.close_day)
            .join(accounts, accounts.c.bill_cycle_cd == bill_cycles.c.bill_cycle_cd)
            .where(accounts.c.account_id == account_id)
        ).scalar()
        if close_day is None:
            raise BillingError(f"account {account_id} is unknown (or its bill cycle is): nothing to preview")
        day = next_bill_date(close_day, as_of)
        create_bills(conn, day, select(accounts.c.account_id).where(accounts.c.account_id == account_id))
        found = conn.execute(select(bill).where(bill.c.account_id == account_id, bill.c.bill_dt == day)).first()
        segments = [] if found is None else conn.execute(
            select(bill_segment.c.bill_chg_id, bill_segment.c.status, bill_segment.c.amount,
                   bill_segment.c.charge_amount, bill_segment.c.charge_currency_cd, bill_segment.c.message,
                   bill_chg.c.price_item_cd, bill_chg.c.description, bill_chg.c.start_dt, bill_chg.c.end_dt)
            .join(bill_chg, bill_chg.c.bill_chg_id == bill_segment.c.bill_chg_id)
            .where(bill_segment.c.bill_id == found.bill_id)
            .order_by(bill_chg.c.start_dt, bill_segment.c.bill_chg_id)
        ).all()
        transaction.rollback()  # a preview writes nothing
    return BillPreview(day, found, segments)

"""BillServices: a ``RECURRING`` billable charge per service due, for one bill period.

A service is due on day D when it is ``OPEN`` (or ``WAIT_FOR_PAYMENT`` and never billed: its
first period is billed so that it can be paid) and its next bill date (its start date when
none is set) is on or before D + ``prebill_days``, and not after its end date. It is billed
once per day at most, for the period from its next bill date:

* periods follow the calendar: MONTHLY a month from the 1st, QUARTERLY from January, April,
  July or October 1st, ANNUAL from January 1st. A service whose next bill date falls inside
  such a period (it started mid-period) is billed for the rest of that period only, and a
  service ending inside a period for the part up to its end date: **proration by days**, the
  price × days billed / days of the calendar period;
* amount = that price less ``discount_percent`` (ClearDiscounts has already removed expired
  discounts), rounded half-up to the account currency's minor units;
* the charge is dated D (it goes on the account's next bill, like any charge of D) and names
  the period it bills in ``period_start``/``period_end``. A unique index on (service_id,
  period_start) makes a period billable once, whatever re-runs or reference reloads;
* the service's next bill date becomes the day after the last period billed;
* the days a service is not open are not billed: a service reopened (or opened once paid)
  with its next bill date in the past is billed from the day it opens
  (:func:`resume_billing`), and one reopened by the day's payment steps — which come after
  BillServices — is billed from the next day, so that re-running the day bills the same.

The services due on a day are read at once (a row each, at most once a period), their
periods computed in Python and the charges inserted in bulk chunks; the next bill dates move
in one ``UPDATE``.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
from sqlalchemy import Connection, and_, case, exists, func, or_, select, update
from sqlalchemy.sql import ColumnElement

from billing.db.bulk import analyze, bulk_insert
from billing.db.calendar import add_days
from billing.db.engine import allocate_ids
from billing.db.money import to_text
from billing.db.schema import accounts, bill_chg, currencies, services

MONTHS = {"MONTHLY": 1, "QUARTERLY": 3, "ANNUAL": 12}
CHUNK = 10_000


def calendar_period(day: date, bill_period: str) -> tuple[date, date]:
    """The calendar period of ``bill_period`` holding ``day``: (first day, first day of the next)."""
    months = MONTHS[bill_period]
    first = date(day.year, (day.month - 1) // months * months + 1, 1)
    month = first.month - 1 + months
    return first, date(first.year + month // 12, month % 12 + 1, 1)


def period_charge(start: date, end_dt: date | None, bill_period: str, price: Decimal,
                  discount_percent: Decimal | None, minor_units: int) -> tuple[date, Decimal]:
    """(last day, amount) of the period billed from ``start``."""
    first, following = calendar_period(start, bill_period)
    last = following - timedelta(days=1)
    if end_dt is not None and end_dt < last:
        last = end_dt
    amount = price * ((last - start).days + 1) / (following - first).days
    if discount_percent:
        amount = amount * (100 - discount_percent) / 100
    return last, amount.quantize(Decimal(1).scaleb(-minor_units), rounding=ROUND_HALF_UP)


def resume_billing(day: date) -> ColumnElement:
    """The next bill date of a service opened on ``day``: not before that day."""
    return case((func.coalesce(services.c.next_bill_dt, services.c.start_dt) < day, day),
                else_=services.c.next_bill_dt)


def bill_services(conn: Connection, day: date, prebill_days: int) -> int:
    """Bill every service due on ``day``; return the number of charges made."""
    s, a, c = services, accounts, bill_chg
    next_bill = func.coalesce(s.c.next_bill_dt, s.c.start_dt)
    due = (
        select(s.c.service_id, s.c.account_id, s.c.service_cd, s.c.description, s.c.bill_period, s.c.price,
               s.c.discount_percent, s.c.end_dt, next_bill.label("start"), a.c.currency_cd, currencies.c.minor_units)
        .join(a, a.c.account_id == s.c.account_id)
        .join(currencies, currencies.c.currency_cd == a.c.currency_cd)
        .where(
            or_(s.c.status == "OPEN",
                and_(s.c.status == "WAIT_FOR_PAYMENT", ~exists().where(c.c.service_id == s.c.service_id))),
            next_bill <= day + timedelta(days=prebill_days),
            or_(s.c.end_dt.is_(None), next_bill <= s.c.end_dt),
            ~exists().where(c.c.service_id == s.c.service_id, c.c.source == "RECURRING", c.c.start_dt == day),
            or_(func.coalesce(s.c.status_reason, "") != "PAID", s.c.status_dt.is_distinct_from(day)),
        )
        .order_by(s.c.service_id)
    )
    latest_end = (select(func.max(c.c.period_end)).where(c.c.service_id == s.c.service_id)
                  .correlate(s).scalar_subquery())
    # A next bill date that a reference reload moved back into a period already billed
    # moves on past the last period billed: nothing is billed twice.
    conn.execute(update(s).where(exists().where(c.c.service_id == s.c.service_id, c.c.period_start <= next_bill,
                                                c.c.period_end >= next_bill))
                 .values(next_bill_dt=add_days(latest_end, 1)))
    rows = conn.execute(due).all()
    billed = 0
    for chunk in (rows[start:start + CHUNK] for start in range(0, len(rows), CHUNK)):
        first_id = allocate_ids(conn, "bill_chg_id", len(chunk))
        charges = []
        for offset, service in enumerate(chunk):
            last, amount = period_charge(service.start, service.end_dt, service.bill_period, service.price,
                                         service.discount_percent, service.minor_units)
            charges.append({
                "bill_chg_id": first_id + offset, "account_id": service.account_id,
                "price_item_cd": service.service_cd, "param_value": "", "start_dt": day.isoformat(),
                "end_dt": day.isoformat(), "status": "BILLABLE", "aggregated_sw": "N",
                "currency_cd": service.currency_cd, "txn_count": 0, "txn_volume": "0", "txn_amount": "0",
                "charge_amount": to_text(amount), "source": "RECURRING",
                "description": f"{service.description or service.service_cd} {service.start} to {last}",
                "service_id": service.service_id, "period_start": service.start.isoformat(),
                "period_end": last.isoformat(),
            })
        bulk_insert(conn, c, pd.DataFrame(charges))  # COPY on PostgreSQL; values as canonical text
        billed += len(charges)
    if billed:
        analyze(conn, c)
    conn.execute(update(s).where(exists().where(c.c.service_id == s.c.service_id, c.c.start_dt == day,
                                                c.c.source == "RECURRING"))
                 .values(next_bill_dt=add_days(latest_end, 1)))
    return billed

"""UpdateStaticBalances, UpdateStaticPastDueBalances and ResetGraceDates.

What an account owes is its ``COMPLETE`` bills completed before the day (a bill completed
by the day's own finalize_billing counts from the next day, so re-running the day gives the
same figures), each less its credit note; what it paid is its payments dated by the day.
Payments settle bills oldest due date first (``bill.paid_amount``), so "paid", "open" and "past due" are per invoice — what late
fees, overdue suspension and OpenWaitForPaymentServices need. On the account:
``balance`` = owed − paid (negative: a credit), ``past_due_balance`` = what is still open on
bills whose due date has passed, ``balance_dt`` = the day. Everything is recomputed from the
bills and payments, so a re-run, or a payment loaded late, gives the same figures.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Column, Connection, Date, String, and_, func, insert, literal, or_, select, update
from sqlalchemy.sql import ColumnElement

from billing.db.money import Money, dmax, dmin, dsign, dsub, dsum
from billing.db.schema import accounts, bill, credit_note, payment
from billing.db.scratch import scratch_table

ZERO = literal(0)


def credited(day: date | ColumnElement) -> ColumnElement:
    """The amount of the bill's credit note issued by ``day`` (0 without one)."""
    return func.coalesce(select(credit_note.c.amount).where(credit_note.c.bill_id == bill.c.bill_id,
                                                            credit_note.c.credit_dt <= day)
                         .correlate(bill).scalar_subquery(), ZERO)


def open_amount(day: date) -> ColumnElement:
    """What is still to pay on a bill: total − credit note − paid."""
    return dsub(dsub(bill.c.total_amount, credited(day)), func.coalesce(bill.c.paid_amount, ZERO))


def update_balances(conn: Connection, day: date) -> dict[str, int]:
    b = bill
    with scratch_table(
        conn, "balance_bills",
        Column("bill_id", String(64), primary_key=True),
        Column("account_id", String(64), index=True),
        Column("due_dt", Date),
        Column("owed", Money()),
        Column("owed_before", Money()),
        Column("paid", Money()),
        Column("n", BigInteger),
    ) as owed:
        conn.execute(insert(owed).from_select(
            ["bill_id", "account_id", "due_dt", "owed"],
            select(b.c.bill_id, b.c.account_id, b.c.due_dt, dsub(b.c.total_amount, credited(day)))
            .where(b.c.status == "COMPLETE", b.c.completed_dt < day)))
        earlier = owed.alias("earlier")
        conn.execute(update(owed).values(owed_before=func.coalesce(
            select(dsum(earlier.c.owed)).where(
                earlier.c.account_id == owed.c.account_id,
                or_(earlier.c.due_dt < owed.c.due_dt,
                    and_(earlier.c.due_dt == owed.c.due_dt, earlier.c.bill_id < owed.c.bill_id)))
            .scalar_subquery(), ZERO)))
        paid_by_day = (select(dsum(payment.c.amount)).where(payment.c.payment_dt <= day)
                       .where(payment.c.account_id == owed.c.account_id).scalar_subquery())
        conn.execute(update(owed).values(paid=dmax(ZERO, dmin(owed.c.owed, dsub(func.coalesce(paid_by_day, ZERO),
                                                                                owed.c.owed_before)))))
        new_paid = select(owed.c.paid).where(owed.c.bill_id == b.c.bill_id).scalar_subquery()
        changed = conn.execute(update(b).where(
            b.c.bill_id.in_(select(owed.c.bill_id)),
            or_(b.c.paid_amount.is_(None), dsign(dsub(b.c.paid_amount, new_paid)) != 0),
        ).values(paid_amount=new_paid)).rowcount
        a = accounts
        total_owed = select(dsum(owed.c.owed)).where(owed.c.account_id == a.c.account_id).scalar_subquery()
        total_paid = (select(dsum(payment.c.amount))
                      .where(payment.c.account_id == a.c.account_id, payment.c.payment_dt <= day).scalar_subquery())
        past_due = (select(dsum(dsub(owed.c.owed, owed.c.paid)))
                    .where(owed.c.account_id == a.c.account_id, owed.c.due_dt < day).scalar_subquery())
        conn.execute(update(a).values(
            balance=dsub(func.coalesce(total_owed, ZERO), func.coalesce(total_paid, ZERO)),
            past_due_balance=func.coalesce(past_due, ZERO), balance_dt=day))
    counts = {
        "bills_paid_amount_changed": changed,
        "accounts_owing": conn.execute(select(func.count()).where(dsign(a.c.balance) == 1)).scalar(),
        "accounts_past_due": conn.execute(select(func.count()).where(dsign(a.c.past_due_balance) == 1)).scalar(),
    }
    return counts


def reset_grace_dates(conn: Connection, day: date) -> int:
    """ResetGraceDates: grace dates in the past are cleared."""
    return conn.execute(update(accounts).where(accounts.c.grace_dt < day).values(grace_dt=None)).rowcount

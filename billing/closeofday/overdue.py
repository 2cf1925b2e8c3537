"""AssessLateFeesByInvoice, ReopenOverDueAccounts / Services, SuspendOverDueAccounts,
SetFinactivity and OpenWaitForPaymentServices — all from the per-invoice open amounts that
UpdateStaticBalances keeps (:mod:`billing.closeofday.balances`).

* A late fee is a ``LATE_FEE`` billable charge dated the day, once per invoice (a unique
  index on ``bill_chg.late_fee_bill_id``): for each completed invoice still open more than
  ``grace_days`` after its due date, the configured percent of its open amount (rounded
  half-up to the currency's minor units) or the flat amount.
* An account is overdue when one of its invoices is still open more than
  ``suspend_overdue_after_days`` after its due date. An OPEN overdue account without a grace
  date (ResetGraceDates has cleared the past ones) is SUSPENDED with its OPEN services
  (reason OVERDUE); once no longer overdue it is OPEN again, and so are the services
  suspended because of it (OVERDUE, or ACCOUNT_NOT_OPEN meanwhile) that have not ended.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection, String, and_, case, cast, exists, func, literal, or_, select, update

from billing.closeofday.balances import open_amount
from billing.closeofday.policy import LateFeePolicy
from billing.closeofday.recurring import resume_billing
from billing.db.engine import insert_numbered
from billing.db.money import Money, ddiv, dmul, dround, dsign
from billing.db.schema import accounts, bill, bill_chg, bill_segment, currencies, services


def _open_past(day: date, days: int):
    """Condition on ``bill``: completed, still open, due more than ``days`` days before ``day``."""
    return and_(bill.c.status == "COMPLETE", bill.c.completed_dt < day, dsign(open_amount(day)) == 1,
                bill.c.due_dt < day - timedelta(days=days))


def assess_late_fees(conn: Connection, day: date, policy: LateFeePolicy) -> int:
    b = bill
    if policy.kind == "FLAT":
        if policy.flat_amount <= 0:
            return 0
        fee = literal(policy.flat_amount, Money())
    else:
        fee = dround(ddiv(dmul(open_amount(day), literal(policy.percent, Money())), literal(100)),
                     currencies.c.minor_units)
    candidates = (
        select(b.c.account_id, b.c.currency_cd, b.c.bill_id.label("late_fee_bill_id"), fee.label("charge_amount"),
               (literal("Late fee: invoice ") + b.c.invoice_number + literal(" due ") + cast(b.c.due_dt, String))
               .label("description"))
        .join(currencies, currencies.c.currency_cd == b.c.currency_cd)
        .where(_open_past(day, policy.grace_days),
               ~exists().where(bill_chg.c.late_fee_bill_id == b.c.bill_id))
        .subquery()
    )
    rows = select(
        candidates.c.account_id, literal("LATE_FEE").label("price_item_cd"), literal("").label("param_value"),
        literal(day).label("start_dt"), literal(day).label("end_dt"), literal("BILLABLE").label("status"),
        literal("N").label("aggregated_sw"), candidates.c.currency_cd, literal(0).label("txn_count"),
        literal(0, Money()).label("txn_volume"), literal(0, Money()).label("txn_amount"),
        candidates.c.charge_amount, literal("LATE_FEE").label("source"), candidates.c.description,
        candidates.c.late_fee_bill_id,
    ).where(dsign(candidates.c.charge_amount) == 1)
    return insert_numbered(conn, bill_chg, "bill_chg_id", rows, order_by=("late_fee_bill_id",))


def _overdue(day: date, after_days: int):
    return exists().where(bill.c.account_id == accounts.c.account_id, _open_past(day, after_days))


def reopen_and_suspend(conn: Connection, day: date, after_days: int) -> dict[str, int]:
    a, s = accounts, services
    account_status = select(a.c.status).where(a.c.account_id == s.c.account_id).scalar_subquery()
    reopened = conn.execute(update(a).where(a.c.status == "SUSPENDED", a.c.status_reason == "OVERDUE",
                                            ~_overdue(day, after_days))
                            .values(status="OPEN", status_reason="PAID", status_dt=day)).rowcount
    services_reopened = conn.execute(update(s).where(s.c.status == "SUSPENDED",
                                                     s.c.status_reason.in_(("OVERDUE", "ACCOUNT_NOT_OPEN")),
                                                     account_status == "OPEN", or_(s.c.end_dt.is_(None), s.c.end_dt > day))
                                     .values(status="OPEN", status_reason="PAID", status_dt=day,
                                             next_bill_dt=resume_billing(day))).rowcount
    suspended = conn.execute(update(a).where(a.c.status == "OPEN", a.c.grace_dt.is_(None), _overdue(day, after_days))
                             .values(status="SUSPENDED", status_reason="OVERDUE", status_dt=day)).rowcount
    account_reason = select(a.c.status_reason).where(a.c.account_id == s.c.account_id).scalar_subquery()
    services_suspended = conn.execute(update(s).where(s.c.status == "OPEN", account_status == "SUSPENDED",
                                                      account_reason == "OVERDUE")
                                      .values(status="SUSPENDED", status_reason="OVERDUE", status_dt=day)).rowcount
    return {"ReopenOverDueAccounts": reopened, "ReopenOverDueServices": services_reopened,
            "SuspendOverDueAccounts": suspended, "services_suspended_overdue": services_suspended}


def set_finactivity(conn: Connection, day: date) -> int:
    """SetFinactivity: Y on accounts with billable charges (of the day or before) on no bill
    dated before the day — what DoInvoicing may bill — N on the others."""
    a, c = accounts, bill_chg
    billed_before = exists().where(bill_segment.c.bill_chg_id == c.c.bill_chg_id,
                                   bill.c.bill_id == bill_segment.c.bill_id, bill.c.bill_dt < day)
    pending = exists().where(c.c.account_id == a.c.account_id, c.c.status == "BILLABLE", c.c.start_dt <= day,
                             ~billed_before)
    flag = case((pending, "Y"), else_="N")
    return conn.execute(update(a).where(func.coalesce(a.c.finactivity_sw, "") != flag)
                        .values(finactivity_sw=flag)).rowcount


def open_paid_services(conn: Connection, day: date) -> int:
    """OpenWaitForPaymentServices: WAIT_FOR_PAYMENT services of OPEN accounts whose recurring
    charges are all on invoices completed before the day with nothing left to pay are OPEN,
    billed from that day on."""
    s, c, seg, a = services, bill_chg, bill_segment, accounts
    unpaid = exists().where(
        c.c.service_id == s.c.service_id,
        ~exists().where(seg.c.bill_chg_id == c.c.bill_chg_id, seg.c.bill_id == bill.c.bill_id,
                        bill.c.status == "COMPLETE", bill.c.completed_dt < day, dsign(open_amount(day)) <= 0))
    billed = exists().where(c.c.service_id == s.c.service_id)
    account_open = exists().where(a.c.account_id == s.c.account_id, a.c.status == "OPEN")
    return conn.execute(update(s).where(s.c.status == "WAIT_FOR_PAYMENT", billed, account_open, ~unpaid)
                        .values(status="OPEN", status_reason="PAID", status_dt=day,
                                next_bill_dt=resume_billing(day))).rowcount

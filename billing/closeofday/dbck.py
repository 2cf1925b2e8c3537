"""dbck: data checks over the whole billing database, severe problems and warnings.

Each check returns a few examples of what it found (empty: all well). Severe problems are
money that does not add up or rows that point nowhere — they stop the close of day until
fixed; warnings are states an operator should look at.
"""

from __future__ import annotations

from sqlalchemy import Connection, and_, exists, select

from billing.closeofday.balances import credited
from billing.db.money import dsign, dsub
from billing.db.schema import accounts, bill, bill_chg, bill_segment, payment, services
from billing.invoicing.invariants import SAMPLE, bill_totals_off
from billing.tfm.invariants import comp_legs_on_one_charge


def _sample(conn: Connection, query, describe) -> list[str]:
    return [describe(row) for row in conn.execute(query.limit(SAMPLE)).all()]


def orphans(conn: Connection) -> list[str]:
    found = []
    for table, key in ((bill_chg, bill_chg.c.bill_chg_id), (payment, payment.c.payment_id), (bill, bill.c.bill_id),
                       (services, services.c.service_id)):
        found += _sample(conn, select(key, table.c.account_id).where(
            ~exists().where(accounts.c.account_id == table.c.account_id)),
            lambda row, name=table.name: f"{name} {row[0]} belongs to unknown account {row[1]}")
    return found


def overlapping_service_periods(conn: Connection) -> list[str]:
    c, other = bill_chg, bill_chg.alias("other")
    return _sample(conn, select(c.c.service_id, c.c.period_start, other.c.period_start).join(other, and_(
        other.c.service_id == c.c.service_id, other.c.bill_chg_id != c.c.bill_chg_id,
        other.c.period_start > c.c.period_start, other.c.period_start <= c.c.period_end)),
        lambda row: f"service {row[0]} is billed twice for {row[2]} (periods from {row[1]} and {row[2]})")


def overpaid_bills(conn: Connection) -> list[str]:
    """Paid more than owed, as of the day the balances were last computed (a credit note issued
    since counts from the next UpdateStaticBalances)."""
    b, a = bill, accounts
    owed = dsub(b.c.total_amount, credited(a.c.balance_dt))
    return _sample(conn, select(b.c.bill_id, b.c.paid_amount, owed).join(a, a.c.account_id == b.c.account_id).where(
        dsign(b.c.paid_amount) == 1, dsign(dsub(b.c.paid_amount, owed)) == 1),
        lambda row: f"bill {row[0]} is paid {row[1]} of {row[2]} owed")


def open_services_of_closed_accounts(conn: Connection) -> list[str]:
    s, a = services, accounts
    return _sample(conn, select(s.c.service_id, a.c.account_id, a.c.status).join(a, a.c.account_id == s.c.account_id)
                   .where(s.c.status == "OPEN", a.c.status != "OPEN"),
                   lambda row: f"service {row[0]} is OPEN but its account {row[1]} is {row[2]}")


def bills_held_in_error(conn: Connection) -> list[str]:
    return _sample(conn, select(bill.c.bill_id, bill.c.bill_dt).where(
        bill.c.status == "PENDING",
        exists().where(bill_segment.c.bill_id == bill.c.bill_id, bill_segment.c.status == "ERROR")),
        lambda row: f"bill {row[0]} of {row[1]} is held by segments in ERROR (see bill_segment.message)")


def credit_balances(conn: Connection) -> list[str]:
    a = accounts
    return _sample(conn, select(a.c.account_id, a.c.balance, a.c.currency_cd).where(dsign(a.c.balance) == -1),
                   lambda row: f"account {row[0]} has a credit balance of {row[1]} {row[2]}: refund or keep it")


SEVERE = {
    "bill totals add up": bill_totals_off,
    "every row belongs to a known account": orphans,
    "no service period billed twice": overlapping_service_periods,
    "no bill paid more than it owes": overpaid_bills,
    "each COMP leg on one charge": comp_legs_on_one_charge,
}
WARNINGS = {
    "open services belong to open accounts": open_services_of_closed_accounts,
    "no bill held by segments in error": bills_held_in_error,
    "no account in credit": credit_balances,
}


def findings(conn: Connection, checks: dict) -> list[str]:
    return [f"{name}: {problem}" for name, check in checks.items() for problem in check(conn)]

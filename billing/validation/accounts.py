"""account_completeness_check: what an account needs to be billed and reached.

The loader refuses a file whose codes are unknown when it is loaded; these rules look at the
accounts as they are on the day, whatever wrote them since (a fix in SQL, a partial reload),
and at what no file load checks: that the account's tax code has a rate in effect, and that
someone can be written to.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Select, and_, exists, func, or_, select

from billing.db.schema import accounts, bill_cycles, currencies, divisions, persons, tax_rates
from billing.validation.rules import ERROR, WARNING, Rule, listing, text_of

CHECK = "account_completeness_check"
a = accounts
parent = accounts.alias("parent")
NOT_CLOSED = a.c.status != "CLOSED"

_UNKNOWN = (
    (~exists().where(persons.c.person_id == a.c.person_id), ("person ", a.c.person_id)),
    (~exists().where(divisions.c.division_cd == a.c.division_cd), ("division ", a.c.division_cd)),
    (~exists().where(currencies.c.currency_cd == a.c.currency_cd), ("currency ", a.c.currency_cd)),
    (~exists().where(bill_cycles.c.bill_cycle_cd == a.c.bill_cycle_cd), ("bill cycle ", a.c.bill_cycle_cd)),
    (and_(a.c.parent_account_id.is_not(None), ~exists().where(parent.c.account_id == a.c.parent_account_id)),
     ("parent account ", a.c.parent_account_id)),
)


def _count(*where) -> Select:
    return select(func.count()).select_from(a).where(*where)


def _unresolved(day: date):
    return select(a.c.account_id, text_of(
        "account ", a.c.account_id, " refers to unknown ", listing(*_UNKNOWN),
        ": load the missing rows (persons.csv, divisions.csv, currencies.csv, bill_cycles.csv, accounts.csv) or "
        "correct the account in accounts.csv")).where(or_(*(condition for condition, _ in _UNKNOWN)))


def _has_tax_rate(day: date):
    return exists().where(tax_rates.c.tax_cd == a.c.tax_cd, tax_rates.c.effective_dt <= day)


def _tax_rate_missing(day: date):
    return select(a.c.account_id, text_of(
        "account ", a.c.account_id, " has tax code ", a.c.tax_cd, f" but no rate of it is effective on {day}: its "
        "bills would be taxed at 0; load the rate in tax_rates.csv or correct tax_cd in accounts.csv")).where(
        NOT_CLOSED, a.c.tax_cd.is_not(None), ~_has_tax_rate(day))


def _no_contact(day: date):
    p = persons
    return select(a.c.account_id, text_of(
        "account ", a.c.account_id, " has no e-mail and neither has its person ", a.c.person_id, ": its invoices "
        "and notices go to the operator to pass on; add an e-mail in accounts.csv or persons.csv")).select_from(
        a.outerjoin(p, p.c.person_id == a.c.person_id)).where(
        NOT_CLOSED, func.coalesce(a.c.email, "") == "", func.coalesce(p.c.email, "") == "")


RULES = (
    Rule("ACCOUNT_REFERENCE_UNRESOLVED", CHECK, "account", ERROR, lambda day: _count(), _unresolved),
    Rule("ACCOUNT_TAX_RATE_MISSING", CHECK, "account", ERROR,
         lambda day: _count(NOT_CLOSED, a.c.tax_cd.is_not(None)), _tax_rate_missing),
    Rule("ACCOUNT_NO_CONTACT", CHECK, "account", WARNING, lambda day: _count(NOT_CLOSED), _no_contact),
)

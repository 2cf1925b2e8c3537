"""service_configuration_check: services that BillServices and the lifecycle would bill or
keep wrongly — of unknown or closed accounts, with a price or next bill date that cannot be
right, with a code no definition knows, or still open after their definition ended."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Select, exists, func, or_, select

from billing.db.money import dsign, dsub
from billing.db.schema import accounts, service_definitions, services
from billing.validation.rules import ERROR, WARNING, Rule, of_unknown_account, listing, text_of

CHECK = "service_configuration_check"
s, a, d = services, accounts, service_definitions
NOT_CLOSED = s.c.status != "CLOSED"
BILLED = s.c.status.in_(("OPEN", "WAIT_FOR_PAYMENT"))


def _services(*where) -> Select:
    return select(func.count()).select_from(s).where(*where)


def _of_closed_account(day: date):
    return select(s.c.service_id, text_of(
        "service ", s.c.service_id, " is ", s.c.status, " but its account ", s.c.account_id, " is CLOSED: make the "
        "service CLOSED in services.csv or reopen the account")).join(a, a.c.account_id == s.c.account_id).where(
        NOT_CLOSED, a.c.status == "CLOSED")


_BAD_PRICE = (
    (dsign(s.c.price) == -1, ("price ", s.c.price, " (must not be negative)")),
    (or_(dsign(s.c.discount_percent) == -1, dsign(dsub(s.c.discount_percent, 100)) == 1),
     ("discount_percent ", s.c.discount_percent, " (must be 0 to 100)")),
)


def _price_invalid(day: date):
    return select(s.c.service_id, text_of(
        "service ", s.c.service_id, " of account ", s.c.account_id, " has ", listing(*_BAD_PRICE),
        ": its recurring charges would be wrong; correct it in services.csv")).where(
        NOT_CLOSED, or_(*(condition for condition, _ in _BAD_PRICE)))


def _next_bill_before_start(day: date):
    return select(s.c.service_id, text_of(
        "service ", s.c.service_id, " has next_bill_dt ", s.c.next_bill_dt, " before its start_dt ", s.c.start_dt,
        ": it would be billed for days before it starts; in services.csv set next_bill_dt on or after start_dt, "
        "or leave it empty")).where(NOT_CLOSED, s.c.next_bill_dt < s.c.start_dt)


def _definition_unknown(day: date):
    return select(s.c.service_id, text_of(
        "service ", s.c.service_id, " has service code ", s.c.service_cd, ", which service_definitions.csv does not "
        "define, so no definition end date ever stops it: add the definition or correct service_cd in "
        "services.csv")).where(NOT_CLOSED, exists().where(d.c.service_cd.is_not(None)),
                               ~exists().where(d.c.service_cd == s.c.service_cd))


def _after_definition_end(day: date):
    return select(s.c.service_id, text_of(
        "service ", s.c.service_id, " is ", s.c.status, " after its definition ", s.c.service_cd, " ended on ",
        d.c.end_dt, ": give the service an end date, or move it to a current service code, in services.csv")).join(
        d, d.c.service_cd == s.c.service_cd).where(
        BILLED, d.c.end_dt <= day, or_(s.c.end_dt.is_(None), s.c.end_dt > d.c.end_dt))


RULES = (
    Rule("SERVICE_ACCOUNT_UNKNOWN", CHECK, "service", ERROR, lambda day: _services(),
         of_unknown_account(s, "service_id", "service", "services.csv")),
    Rule("SERVICE_OF_CLOSED_ACCOUNT", CHECK, "service", ERROR, lambda day: _services(NOT_CLOSED), _of_closed_account),
    Rule("SERVICE_PRICE_INVALID", CHECK, "service", ERROR, lambda day: _services(NOT_CLOSED), _price_invalid),
    Rule("SERVICE_NEXT_BILL_BEFORE_START", CHECK, "service", ERROR, lambda day: _services(NOT_CLOSED),
         _next_bill_before_start),
    Rule("SERVICE_DEFINITION_UNKNOWN", CHECK, "service", WARNING, lambda day: _services(NOT_CLOSED),
         _definition_unknown),
    Rule("SERVICE_AFTER_DEFINITION_END", CHECK, "service", WARNING, lambda day: _services(BILLED),
         _after_definition_end),
)

"""rate_consistency_check: the pricing that is in effect on the day or will be.

The loader checks each pricing row on its own (required fields per rate type, tiers in
order); these rules look across rows and tables: prices that charge nothing or give money
back, two assignments of the same key at once (C1-TXNVP finds them ambiguous), assignments
whose charges the bill run cannot convert to the account's currency, and assignments that
reach no account. Which accounts an assignment reaches is the effective pricing (C1-TXNRP),
brought up to date first as every feed does.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Select, and_, exists, func, or_, select

from billing.db.money import dsign
from billing.db.schema import accounts, pricing, pricing_effective, pricing_tiers
from billing.reference.rates import conversion_rate
from billing.reference.spec import RATE_TYPE_FIELDS, TIERED_RATE_TYPES
from billing.validation.rules import ERROR, WARNING, Rule, listing, not_ended, text_of

CHECK = "rate_consistency_check"
p, t, pe, a = pricing, pricing_tiers, pricing_effective, accounts
other = pricing.alias("other")
_MONEY_FIELDS = ("unit_price", "percent", "fixed_amount", "min_charge", "max_charge")


def _negative(value):
    return dsign(value) == -1


def _of_assignment(*where):
    return exists().where(t.c.price_assignment_id == p.c.price_assignment_id, *where)


def _pricing(*where) -> Select:
    return select(func.count()).select_from(p).where(*where)


def _name():
    return ("price assignment ", p.c.price_assignment_id, " (", p.c.price_item_cd, ", ", p.c.rate_type, ")")


def _negative_prices(day: date):
    items = [(_negative(p.c[name]), (name, " ", p.c[name])) for name in _MONEY_FIELDS]
    items.append((_of_assignment(or_(_negative(t.c.unit_price), _negative(t.c.flat_amount))),
                  ("a tier's unit_price or flat_amount",)))
    return select(p.c.price_assignment_id, text_of(
        *_name(), " has negative ", listing(*items), ": its charges would be credits; correct it in pricing.csv "
        "(tiers in pricing_tiers.csv)")).where(not_ended(p, day), or_(*(condition for condition, _ in items)))


def _charges_nothing():
    zero_field = [and_(p.c.rate_type == rate_type, or_(*(dsign(p.c[name]) == 0 for name in fields)))
                  for rate_type, fields in RATE_TYPE_FIELDS.items()]
    no_tier_charges = and_(p.c.rate_type.in_(TIERED_RATE_TYPES), ~_of_assignment(
        or_(func.coalesce(dsign(t.c.unit_price), 0) != 0, func.coalesce(dsign(t.c.flat_amount), 0) != 0)))
    return and_(or_(*zero_field, no_tier_charges), func.coalesce(dsign(p.c.min_charge), 0) != 1)


def _zero_prices(day: date):
    return select(p.c.price_assignment_id, text_of(
        *_name(), " charges 0 for every transaction it rates: correct the price in pricing.csv (tiers in "
        "pricing_tiers.csv), or set ignore_txn Y if these transactions are not to be charged")).where(
        not_ended(p, day), p.c.ignore_txn == "N", _charges_nothing())


def _overlaps(day: date):
    return select(p.c.price_assignment_id, text_of(
        *_name(), " overlaps price assignment ", func.min(other.c.price_assignment_id), " (same scope ", p.c.scope,
        " ", p.c.scope_id, ", price item and param_value) on or after ", day.isoformat(), ": transactions in both "
        "periods fail AMBIGUOUS_PRICING; in pricing.csv end one before the other starts")).join(other, and_(
            other.c.scope == p.c.scope, other.c.scope_id == p.c.scope_id, other.c.price_item_cd == p.c.price_item_cd,
            other.c.param_value.is_not_distinct_from(p.c.param_value),
            other.c.price_assignment_id != p.c.price_assignment_id, not_ended(other, day),
            or_(other.c.end_dt.is_(None), other.c.end_dt >= p.c.start_dt),
            or_(p.c.end_dt.is_(None), p.c.end_dt >= other.c.start_dt))).where(not_ended(p, day)).group_by(
        p.c.price_assignment_id, p.c.price_item_cd, p.c.rate_type, p.c.scope, p.c.scope_id)


def _no_exchange_rate(day: date):
    return select(p.c.price_assignment_id, text_of(
        *_name(), " prices in ", p.c.currency_cd, " but ", func.count(a.c.account_id.distinct()),
        " account(s) it applies to bill in a currency it has no exchange rate to effective on ", day.isoformat(),
        " (first: account ", func.min(a.c.account_id), "): their bills would hold its charges in ERROR; load the "
        "rates in exchange_rates.csv")).join(pe, pe.c.price_assignment_id == p.c.price_assignment_id).join(
        a, a.c.account_id == pe.c.account_id).where(
        not_ended(p, day), a.c.status != "CLOSED", conversion_rate(p.c.currency_cd, a.c.currency_cd, day).is_(None),
    ).group_by(p.c.price_assignment_id, p.c.price_item_cd, p.c.rate_type, p.c.currency_cd)


def _reaches_no_account(day: date):
    return select(p.c.price_assignment_id, text_of(
        *_name(), " of scope ", p.c.scope, " ", p.c.scope_id, " applies to no account: correct scope_id in "
        "pricing.csv (a price list is an account's price_list_cd or a division's default_price_list_cd) or end "
        "the assignment")).where(
        not_ended(p, day), ~exists().where(pe.c.price_assignment_id == p.c.price_assignment_id))


RULES = (
    Rule("PRICE_NEGATIVE", CHECK, "pricing", ERROR, lambda day: _pricing(not_ended(p, day)), _negative_prices),
    Rule("PRICE_ZERO", CHECK, "pricing", WARNING, lambda day: _pricing(not_ended(p, day), p.c.ignore_txn == "N"),
         _zero_prices),
    Rule("PRICING_OVERLAP", CHECK, "pricing", ERROR, lambda day: _pricing(not_ended(p, day)), _overlaps),
    Rule("PRICING_NO_EXCHANGE_RATE", CHECK, "pricing", ERROR, lambda day: _pricing(not_ended(p, day)),
         _no_exchange_rate),
    Rule("PRICING_APPLIES_TO_NO_ACCOUNT", CHECK, "pricing", WARNING, lambda day: _pricing(not_ended(p, day)),
         _reaches_no_account),
)

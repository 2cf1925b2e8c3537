"""contract_validity_check: contracts as C1-TXNEX will see them on the day.

A transaction of a price item that needs a contract type must find exactly one live contract
of that type in effect (``billing.tfm.leg_status``); these rules find, before any feed does,
the accounts where it would not, and contracts that cannot mean what they say.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Select, and_, exists, func, select

from billing.db.schema import accounts, contracts, price_items
from billing.tfm.leg_status import LIVE_CONTRACT_STATUSES
from billing.validation.rules import ERROR, WARNING, Rule, of_unknown_account, in_effect, not_ended, text_of

CHECK = "contract_validity_check"
c, a = contracts, accounts
other = contracts.alias("other")


def _live(table, day: date):
    return and_(table.c.status.in_(LIVE_CONTRACT_STATUSES), in_effect(table, day))


def _contracts(*where) -> Select:
    return select(func.count()).select_from(c).where(*where)


def _overlap(day: date):
    return select(c.c.contract_id, text_of(
        "contract ", c.c.contract_id, " of account ", c.c.account_id, " (type ", c.c.contract_type,
        f") is in effect on {day} together with contract ", func.min(other.c.contract_id), ": transactions of ",
        c.c.contract_type, " price items fail MULTIPLE_CONTRACTS; in contracts.csv end all but one before the day "
        "or make them INACTIVE")).join(other, and_(
            other.c.account_id == c.c.account_id, other.c.contract_type == c.c.contract_type,
            other.c.contract_id != c.c.contract_id, _live(other, day))).where(_live(c, day)).group_by(
        c.c.contract_id, c.c.account_id, c.c.contract_type)


def _type_unused(day: date):
    return select(c.c.contract_id, text_of(
        "contract ", c.c.contract_id, " of account ", c.c.account_id, " has type ", c.c.contract_type,
        ", which no price item needs (price_items.csv contract_type), so it covers nothing: correct contract_type "
        "in contracts.csv")).where(not_ended(c, day), ~exists().where(price_items.c.contract_type == c.c.contract_type))


def _of_closed_account(day: date):
    return select(c.c.contract_id, text_of(
        "contract ", c.c.contract_id, f" is ACTIVE on {day} but its account ", c.c.account_id, " is CLOSED: give "
        "it an end date or make it STOPPED or INACTIVE in contracts.csv")).join(
        a, a.c.account_id == c.c.account_id).where(c.c.status == "ACTIVE", in_effect(c, day), a.c.status == "CLOSED")


def _with_contracts():
    return exists().where(c.c.account_id == a.c.account_id)


def _account_without_contract(day: date):
    return select(a.c.account_id, text_of(
        "account ", a.c.account_id, f" is OPEN but none of its contracts is in effect and live on {day}: "
        "transactions of price items that need a contract fail NO_CONTRACT or CONTRACT_INACTIVE; renew the "
        "contract in contracts.csv or close the account")).where(
        a.c.status == "OPEN", _with_contracts(), ~exists().where(c.c.account_id == a.c.account_id, _live(c, day)))


RULES = (
    Rule("CONTRACT_ACCOUNT_UNKNOWN", CHECK, "contract", ERROR, lambda day: _contracts(),
         of_unknown_account(c, "contract_id", "contract", "contracts.csv")),
    Rule("CONTRACT_OVERLAP", CHECK, "contract", ERROR, lambda day: _contracts(_live(c, day)), _overlap),
    Rule("CONTRACT_TYPE_UNUSED", CHECK, "contract", WARNING, lambda day: _contracts(not_ended(c, day)), _type_unused),
    Rule("CONTRACT_OF_CLOSED_ACCOUNT", CHECK, "contract", WARNING,
         lambda day: _contracts(c.c.status == "ACTIVE", in_effect(c, day)), _of_closed_account),
    Rule("ACCOUNT_WITHOUT_CONTRACT", CHECK, "account", WARNING,
         lambda day: select(func.count()).select_from(a).where(a.c.status == "OPEN", _with_contracts()),
         _account_without_contract),
)

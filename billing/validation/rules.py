"""What a validation rule is, and the SQL pieces the rule families share.

A rule is two queries over the reference tables as of a business day: how many entities it
looks at, and one row (entity id, message) per entity that fails it. Both are plain
``SELECT``s, so :func:`billing.validation.batch.validate_accounts` runs each rule as one
``INSERT … SELECT`` however many accounts there are. Messages are built in SQL: they name the
entity, say what is wrong and what to fix, in the words of the reference files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import reduce

from sqlalchemy import ColumnElement, Select, String, case, cast, exists, func, literal, or_, select

from billing.db.schema import accounts

ERROR = "ERROR"
WARNING = "WARNING"


@dataclass(frozen=True)
class Rule:
    code: str  # validation_result.rule_cd, e.g. CONTRACT_OVERLAP
    check: str  # the rule family (the seed's validation rule), e.g. contract_validity_check
    entity_type: str  # what entity_id names: account, contract, pricing or service
    severity: str  # ERROR: billing goes wrong; WARNING: an operator should look
    checked: Callable[[date], Select]  # SELECT count(*) of the entities the rule looks at
    failures: Callable[[date], Select]  # SELECT entity_id, message: one row per failing entity


def text_of(*parts: str | ColumnElement) -> ColumnElement:
    """A message in SQL: literal text and column values (dates and numbers as text; an empty
    value shows as ``(empty)``) concatenated."""
    pieces = [literal(part, String) if isinstance(part, str) else func.coalesce(cast(part, String), "(empty)")
              for part in parts]
    return reduce(lambda left, right: left + right, pieces)


def listing(*items: tuple[ColumnElement, tuple]) -> ColumnElement:
    """``a, b, c``: the text of each (condition, parts) item whose condition holds, in order."""
    joined = reduce(lambda left, right: left + right,
                    [case((condition, text_of(", ", *parts)), else_=literal("", String)) for condition, parts in items])
    return func.substr(joined, 3)


def in_effect(table, day: date) -> ColumnElement:
    """The row's period (start_dt … end_dt, open-ended when empty) contains ``day``."""
    return (table.c.start_dt <= day) & not_ended(table, day)


def not_ended(table, day: date) -> ColumnElement:
    """The row's period has not ended before ``day``: it is in effect, or will be."""
    return or_(table.c.end_dt.is_(None), table.c.end_dt >= day)


def of_unknown_account(table, key: str, entity: str, file: str) -> Callable[[date], Select]:
    """The failures of a rule: rows of ``table`` (contracts, services) whose account is unknown."""

    def failures(day: date) -> Select:
        return select(table.c[key], text_of(
            f"{entity} ", table.c[key], " belongs to unknown account ", table.c.account_id,
            f": load the account in accounts.csv or correct account_id in {file}")).where(
            ~exists().where(accounts.c.account_id == table.c.account_id))

    return failures

"""Rates in effect on a date, as SQL: exchange rates (DESIGN §5 step 7 and §7) and tax rates
(§7). The row in effect is the one with the latest ``effective_dt`` on or before the date."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, case, literal, select

from billing.db.schema import exchange_rates


def latest_effective(value: ColumnElement, key_matches: ColumnElement, on: ColumnElement | object) -> ColumnElement:
    """``value`` of the row of its table that ``key_matches`` with the latest effective_dt ≤ ``on``."""
    table = value.table
    return (
        select(value)
        .where(key_matches, table.c.effective_dt <= on)
        .order_by(table.c.effective_dt.desc())
        .limit(1)
        .scalar_subquery()
    )


def conversion_rate(from_currency: ColumnElement, to_currency: ColumnElement, on) -> ColumnElement:
    """1 between a currency and itself, else the exchange rate from → to in effect on ``on``
    (NULL when there is none)."""
    x = exchange_rates
    return case(
        (from_currency == to_currency, literal(1)),
        else_=latest_effective(x.c.rate, and_(x.c.from_currency_cd == from_currency, x.c.to_currency_cd == to_currency),
                               on),
    )

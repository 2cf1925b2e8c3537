"""Calculation lines (the seed's CI_TXN_CALC / CI_TXN_CALC_LN): how a rated amount was reached.

A ``RITX`` or ``RITA`` leg is rated on its own in C1-TXNEX and gets one line — an ignored
``RITX`` leg keeps its line, as the seed keeps its calculation. An ``AGTR`` charge is rated
on its total and gets one line, rewritten whenever the charge's legs change. A line goes
with what it explains: the legs of a transaction that ends ``EROR`` lose theirs at
completion (C1-TXNCM), and a charge that is deleted loses its own.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, FromClause, String, Subquery, cast, delete, insert, literal, select

from billing.db.schema import bill_chg, pricing, txn_calc_line
from billing.rating import sqi_quantity

LINE_COLUMNS = ("calc_line_id", "leg_id", "bill_chg_id", "header_id", "price_assignment_id", "rating_criteria",
                "rate_type", "sqi_basis", "quantity", "currency_cd", "amount")


def leg_line_id(leg_id: ColumnElement) -> ColumnElement:
    return literal("L") + cast(leg_id, String)


def charge_line_id(bill_chg_id: ColumnElement) -> ColumnElement:
    return literal("C") + cast(bill_chg_id, String)


def add_leg_lines(conn: Connection, legs: FromClause) -> int:
    """One line for each leg in ``legs`` — rows shaped like ``txn_leg`` (leg_id, header_id,
    price_assignment_id, rating_criteria, sqi_quantity, pricing_currency_cd, calc_amount) —
    that carries its own rating."""
    p = pricing
    lines = (
        select(leg_line_id(legs.c.leg_id), legs.c.leg_id, literal(None), legs.c.header_id,
               legs.c.price_assignment_id, legs.c.rating_criteria, p.c.rate_type, p.c.sqi_basis,
               legs.c.sqi_quantity, legs.c.pricing_currency_cd, legs.c.calc_amount)
        .join(p, p.c.price_assignment_id == legs.c.price_assignment_id)
        .where(legs.c.calc_amount.is_not(None))
    )
    return conn.execute(insert(txn_calc_line).from_select(LINE_COLUMNS, lines)).rowcount


def drop_leg_lines(conn: Connection, leg_ids: Subquery) -> int:
    """Drop the lines of the legs whose ids the one-column ``leg_ids`` holds."""
    keys = select(leg_line_id(leg_ids.c[0]))
    return conn.execute(delete(txn_calc_line).where(txn_calc_line.c.calc_line_id.in_(keys))).rowcount


def rewrite_charge_lines(conn: Connection, charge_ids: Subquery) -> int:
    """The line of each ``AGTR`` charge whose id the one-column ``charge_ids`` holds, written
    afresh from the charge as it stands (under the same key, so a re-run writes the same
    rows); a charge that is gone, or has no amount, has no line."""
    line, c, p = txn_calc_line, bill_chg, pricing
    conn.execute(delete(line).where(line.c.calc_line_id.in_(select(charge_line_id(charge_ids.c[0])))))
    lines = (
        select(charge_line_id(c.c.bill_chg_id), literal(None), c.c.bill_chg_id, literal(None), c.c.price_assignment_id,
               c.c.rating_criteria, p.c.rate_type, p.c.sqi_basis,
               sqi_quantity(p.c.sqi_basis, c.c.txn_count, c.c.txn_volume, c.c.txn_amount), c.c.currency_cd,
               c.c.charge_amount)
        .join(p, p.c.price_assignment_id == c.c.price_assignment_id)
        .where(c.c.bill_chg_id.in_(select(charge_ids.c[0])), c.c.rating_criteria == "AGTR",
               c.c.charge_amount.is_not(None))
    )
    return conn.execute(insert(line).from_select(LINE_COLUMNS, lines)).rowcount

"""``rate(q)``: the charge for a quantity under one price assignment (DESIGN §5 "Rating").

Rating runs inside the set-based steps, so it is an SQL expression over a ``pricing`` row
and the quantity, exact on both databases through :mod:`billing.db.money`. The rate types
with tiers (``TIERED``, ``VOLUME``) come with the rating issue; until then a price
assignment of those types is refused as "not supported yet" rather than rated wrongly.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, FromClause, case, literal

from billing.db.money import dceil, ddiv, dmax, dmin, dmul, dround

SUPPORTED_RATE_TYPES = ("FLAT", "PERCENT", "FIXED", "PACKAGE")


def rate(quantity: ColumnElement, price: FromClause, minor_units: ColumnElement) -> ColumnElement:
    """SQL for rate(q) under the pricing row ``price``: clamp to [min, max], round half-up."""
    p = price.c
    raw = case(
        (p.rate_type == "FLAT", dmul(quantity, p.unit_price)),
        (p.rate_type == "PERCENT", ddiv(dmul(quantity, p.percent), literal(100))),
        (p.rate_type == "FIXED", p.fixed_amount),
        (p.rate_type == "PACKAGE", dmul(dceil(ddiv(quantity, p.package_size)), p.unit_price)),
    )
    return dround(dmin(dmax(raw, p.min_charge), p.max_charge), minor_units)

"""``rate(q)``: the charge for a quantity under one price assignment (DESIGN §5 "Rating").

Rating runs inside the set-based steps, so it is an SQL expression over a ``pricing`` row
and the quantity, exact on both databases through :mod:`billing.db.money`. Tiered rate types
read the assignment's ``pricing_tiers`` rows in a correlated subquery.

:func:`rate_charge` rates a billable charge on its own quantities: the amount an ``AGTR``
charge gets when its legs change, and the amount invoicing gives a ``DNRT`` charge.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, FromClause, case, func, literal, or_, select, type_coerce

from billing.db.money import Money, dadd, dceil, ddiv, dmax, dmin, dmul, dround, dsign, dsub, dsum
from billing.db.schema import pricing_tiers


def rate(quantity: ColumnElement, price: FromClause, minor_units: ColumnElement) -> ColumnElement:
    """SQL for rate(q) under the pricing row ``price``: clamp to [min, max], round half-up."""
    p = price.c
    raw = case(
        (p.rate_type == "FLAT", dmul(quantity, p.unit_price)),
        (p.rate_type == "PERCENT", ddiv(dmul(quantity, p.percent), literal(100))),
        (p.rate_type == "FIXED", p.fixed_amount),
        (p.rate_type == "PACKAGE", dmul(dceil(ddiv(quantity, p.package_size)), p.unit_price)),
        (p.rate_type == "TIERED", _graduated(quantity, p.price_assignment_id)),
        (p.rate_type == "VOLUME", _volume(quantity, p.price_assignment_id)),
    )
    return dround(dmin(dmax(raw, p.min_charge), p.max_charge), minor_units)


def sqi_quantity(basis: ColumnElement, count: ColumnElement, volume: ColumnElement, amount: ColumnElement):
    """The quantity a pricing rates (its ``sqi_basis``) out of a count, a volume and an amount."""
    return type_coerce(
        case((basis == "TXN_COUNT", count), (basis == "TXN_VOLUME", volume), else_=amount), Money()
    )


def rate_charge(charge: FromClause, price: FromClause, minor_units: ColumnElement) -> ColumnElement:
    """rate(q) of a charge's own quantity under ``price``: its total for an aggregated charge,
    its one leg's for a non-aggregated one (the invoicing of ``DNRT`` charges, DESIGN §7)."""
    c = charge.c
    return rate(sqi_quantity(price.c.sqi_basis, c.txn_count, c.txn_volume, c.txn_amount), price, minor_units)


def _graduated(quantity: ColumnElement, price_assignment_id: ColumnElement) -> ColumnElement:
    """Σ over the tiers q reaches of (units inside the tier × its price + its flat amount);
    a tier is reached when q is above the previous tier's up_to (the first always is)."""
    tier = pricing_tiers.alias("tier")
    earlier = pricing_tiers.alias("earlier_tier")
    previous_up_to = (
        select(earlier.c.up_to)
        .where(earlier.c.price_assignment_id == tier.c.price_assignment_id, earlier.c.tier_seq < tier.c.tier_seq)
        .order_by(earlier.c.tier_seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    units = dmax(dsub(dmin(quantity, tier.c.up_to), func.coalesce(previous_up_to, literal(0))), literal(0))
    reached = or_(previous_up_to.is_(None), dsign(dsub(quantity, previous_up_to)) > 0)
    piece = case(
        (reached, dadd(dmul(units, func.coalesce(tier.c.unit_price, literal(0))),
                       func.coalesce(tier.c.flat_amount, literal(0)))),
        else_=literal(0),
    )
    return select(dsum(piece)).where(tier.c.price_assignment_id == price_assignment_id).scalar_subquery()


def _volume(quantity: ColumnElement, price_assignment_id: ColumnElement) -> ColumnElement:
    """q × the unit price of the first tier whose up_to ≥ q (empty = no limit), plus its flat."""
    tier = pricing_tiers.alias("volume_tier")
    return (
        select(dadd(dmul(quantity, func.coalesce(tier.c.unit_price, literal(0))),
                    func.coalesce(tier.c.flat_amount, literal(0))))
        .where(
            tier.c.price_assignment_id == price_assignment_id,
            or_(tier.c.up_to.is_(None), dsign(dsub(tier.c.up_to, quantity)) >= 0),
        )
        .order_by(tier.c.tier_seq)
        .limit(1)
        .scalar_subquery()
    )

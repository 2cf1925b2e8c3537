"""Pricing changes a reference load brings, and the re-rating they ask for (DESIGN §6).

At load time each price assignment of ``pricing.csv`` (or whose tiers ``pricing_tiers.csv``
gives) is compared with what the database held: a new one matters from its start date; one
whose end date alone moved matters from the day after the earlier end; any other change
matters from the earlier start. Each is recorded in ``pricing_change`` (``NEW``).

:func:`request_repricing` then turns them into disaggregation requests for the accounts in
each assignment's scope that have legs of its price item, processed on or after that date
and priced before the change was loaded — ``REQUESTED`` — or marks them ``NONE`` when no
processed transaction is touched. Reference data is small: compared here in Python.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection, and_, func, insert, literal, select, update

from billing.db.engine import insert_numbered
from billing.db.schema import (
    accounts,
    disagg_req,
    pricing,
    pricing_change,
    pricing_effective,
    pricing_tiers,
    txn_leg,
)
from billing.tfm.pricing import ensure_effective_pricing, pricing_version

PricingSnapshot = dict[str, tuple[dict, tuple]]
_TIER_COLUMNS = ("tier_seq", "up_to", "unit_price", "flat_amount")


def pricing_snapshot(conn: Connection, ids: set[str]) -> PricingSnapshot:
    """The stored pricing rows and tiers of these price assignments, before a load."""
    if not ids:
        return {}
    rows = {r.price_assignment_id: dict(r._mapping) for r in conn.execute(
        select(pricing).where(pricing.c.price_assignment_id.in_(ids)))}
    tiers: dict[str, list] = {}
    for r in conn.execute(select(pricing_tiers).where(pricing_tiers.c.price_assignment_id.in_(ids))
                          .order_by(pricing_tiers.c.tier_seq)):
        tiers.setdefault(r.price_assignment_id, []).append(tuple(getattr(r, c) for c in _TIER_COLUMNS))
    return {pa: (row, tuple(tiers.get(pa, ()))) for pa, row in rows.items()}


def record_pricing_changes(conn: Connection, load_id: int, ids: set[str], before: PricingSnapshot) -> int:
    """Compare the assignments a load named (``ids``) with ``before``; record each change and
    the first day it matters from."""
    changes = []
    for pa, new in sorted(pricing_snapshot(conn, ids).items()):
        from_dt = _first_day_changed(before.get(pa), new)
        if from_dt is not None:
            changes.append({"load_id": load_id, "price_assignment_id": pa, "from_dt": from_dt, "status": "NEW"})
    if changes:
        conn.execute(insert(pricing_change), changes)
    return len(changes)


def _first_day_changed(old: tuple[dict, tuple] | None, new: tuple[dict, tuple]) -> date | None:
    row, tiers = new
    if old is None:
        return row["start_dt"]
    old_row, old_tiers = old
    differing = {k for k in row if row[k] != old_row.get(k)}
    if not differing and tiers == old_tiers:
        return None
    if differing == {"end_dt"} and tiers == old_tiers:
        ends = [d for d in (row["end_dt"], old_row["end_dt"]) if d is not None]
        return min(ends) + timedelta(days=1)
    return min(row["start_dt"], old_row["start_dt"])


def request_repricing(conn: Connection) -> dict[str, int]:
    """Turn the ``NEW`` pricing changes into pending disaggregation requests (C1-DISTG). The
    accounts in an assignment's scope are those the effective pricing flattens it onto."""
    ensure_effective_pricing(conn)
    version = pricing_version(conn)
    c, pe, a, leg, r = pricing_change, pricing_effective, accounts, txn_leg, disagg_req
    touched = and_(
        leg.c.account_id == pe.c.account_id, leg.c.price_item_cd == pe.c.price_item_cd,
        leg.c.processing_dt >= c.c.from_dt, leg.c.status.in_(("COMP", "IGNR")),
        func.coalesce(leg.c.priced_load_id, -1) < c.c.load_id,  # priced before the change was loaded
    )
    reach = c.join(pe, pe.c.price_assignment_id == c.c.price_assignment_id).join(leg, touched)
    affected = (
        select(pe.c.account_id, func.min(c.c.from_dt).label("from_dt"))
        .select_from(reach).where(c.c.status == "NEW").group_by(pe.c.account_id).subquery()
    )
    chosen = (
        select(affected.c.account_id, a.c.person_id, affected.c.from_dt, literal("PENDING").label("status"),
               literal(version).label("reference_load_id"))
        .join(a, a.c.account_id == affected.c.account_id)
        .where(~select(r.c.req_id).where(r.c.account_id == affected.c.account_id, r.c.status == "PENDING").exists())
    )
    created = insert_numbered(conn, disagg_req, "req_id", chosen, order_by=("account_id",))
    reaches_a_leg = (
        select(leg.c.leg_id)
        .select_from(pe.join(leg, touched))
        .where(pe.c.price_assignment_id == c.c.price_assignment_id)
        .exists()
    )
    requested = conn.execute(update(c).where(c.c.status == "NEW", reaches_a_leg).values(status="REQUESTED")).rowcount
    untouched = conn.execute(update(c).where(c.c.status == "NEW").values(status="NONE")).rowcount
    return {"changes_touching_processed": requested, "changes_touching_nothing": untouched,
            "requests_created": created}

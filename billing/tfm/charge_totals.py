"""Recompute aggregated billable charges from the legs they hold.

A charge's SQIs are always the sums over its legs — recomputed, never incremented — and
its amount follows its rating criteria: ``RITA`` the sum of the legs' own amounts, ``AGTR``
rate(total quantity), ``DNRT`` none. A charge left with no leg (and on no bill) is deleted.
Used by C1-TXNSQ and by every clean-up (C1-TXNCU) that takes legs away from charges.
"""

from __future__ import annotations

from sqlalchemy import Connection, Select, Subquery, case, delete, exists, func, select, update

from billing.db.money import dsum
from billing.db.schema import bill_chg, bill_segment, currencies, pricing, txn_leg
from billing.rating import rate

CHARGED_LEG_STATUSES = ("INPD", "COMP")


def recompute_aggregated_charges(conn: Connection, charge_ids: Select) -> dict[str, int]:
    """Recompute the aggregated charges whose ids ``charge_ids`` selects."""
    leg, c = txn_leg, bill_chg
    touched = c.c.bill_chg_id.in_(charge_ids)
    sums = leg_sums(charge_ids, CHARGED_LEG_STATUSES)
    amount = case(
        (c.c.rating_criteria == "RITA", sums.c.calculated),
        (c.c.rating_criteria == "AGTR", rate(sums.c.quantity, pricing, currencies.c.minor_units)),
        else_=None,
    )
    updated = conn.execute(
        update(c)
        .where(
            touched,
            c.c.aggregated_sw == "Y",
            c.c.bill_chg_id == sums.c.bill_chg_id,
            pricing.c.price_assignment_id == c.c.price_assignment_id,
            currencies.c.currency_cd == c.c.currency_cd,
        )
        .values(txn_count=sums.c.n, txn_volume=sums.c.volume, txn_amount=sums.c.amount, charge_amount=amount)
    ).rowcount
    deleted = conn.execute(
        delete(c).where(
            touched,
            c.c.aggregated_sw == "Y",
            ~exists().where(leg.c.bill_chg_id == c.c.bill_chg_id, leg.c.status.in_(CHARGED_LEG_STATUSES)),
            ~exists().where(bill_segment.c.bill_chg_id == c.c.bill_chg_id),
        )
    ).rowcount
    return {"recomputed": updated, "deleted": deleted}


def leg_sums(charge_ids: Select, statuses: tuple[str, ...]) -> Subquery:
    """Per charge: the number of its legs in ``statuses`` and the sums of their quantities."""
    leg = txn_leg
    return (
        select(
            leg.c.bill_chg_id,
            func.count().label("n"),
            dsum(leg.c.sqi_volume).label("volume"),
            dsum(leg.c.sqi_amount).label("amount"),
            dsum(leg.c.sqi_quantity).label("quantity"),
            dsum(leg.c.calc_amount).label("calculated"),
        )
        .where(leg.c.bill_chg_id.in_(charge_ids), leg.c.status.in_(statuses))
        .group_by(leg.c.bill_chg_id)
        .subquery()
    )


def feed_aggregated_charges(header_id: str) -> Select:
    """Ids of the aggregated charges holding legs of the feed."""
    leg = txn_leg
    return (
        select(leg.c.bill_chg_id)
        .where(leg.c.header_id == header_id, leg.c.aggregate_sw == "Y", leg.c.bill_chg_id.is_not(None))
        .distinct()
    )

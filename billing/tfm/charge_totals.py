"""Recompute aggregated billable charges from the legs they hold.

A charge's SQIs are always the sums over its legs — recomputed, never incremented — and
its amount follows its rating criteria: ``RITA`` the sum of the legs' own amounts, ``AGTR``
rate(total quantity) with its calculation line rewritten, ``DNRT`` none. A charge left with
no leg (and on no bill) is deleted, with its calculation line.
Used by C1-TXNSQ and by every clean-up (C1-TXNCU) that takes legs away from charges.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    Select,
    Subquery,
    case,
    delete,
    exists,
    func,
    insert,
    select,
    update,
)

from billing.db.bulk import analyze
from billing.db.engine import allocate_ids
from billing.db.money import Money, dsum
from billing.db.schema import bill_chg, bill_segment, currencies, pricing, txn_leg
from billing.db.scratch import scratch_table
from billing.rating import rate, sqi_quantity
from billing.tfm.calc_lines import rewrite_charge_lines

CHARGED_LEG_STATUSES = ("INPD", "COMP")


def recompute_aggregated_charges(conn: Connection, charge_ids: Select) -> dict[str, int]:
    """Recompute the aggregated charges whose ids ``charge_ids`` selects.

    The sums are gathered once into a scratch table, then applied by key: one pass over the
    legs and one over the charges, whatever the number of charges.
    """
    allocate_ids(conn, "bill_chg_id", 0)  # serialise with every other writer of shared charges
    c = bill_chg
    with scratch_table(
        conn,
        "charge_totals",
        Column("bill_chg_id", BigInteger, primary_key=True),
        Column("n", Integer),
        *(Column(name, Money()) for name in ("volume", "amount", "calculated")),
    ) as totals:
        conn.execute(insert(totals).from_select(["bill_chg_id"], charge_ids))
        analyze(conn, totals)
        sums = leg_sums(select(totals.c.bill_chg_id), CHARGED_LEG_STATUSES)
        conn.execute(
            update(totals)
            .where(totals.c.bill_chg_id == sums.c.bill_chg_id)
            .values(n=sums.c.n, volume=sums.c.volume, amount=sums.c.amount, calculated=sums.c.calculated)
        )
        amount = case(
            (c.c.rating_criteria == "RITA", totals.c.calculated),
            (c.c.rating_criteria == "AGTR", rate(sqi_quantity(pricing.c.sqi_basis, totals.c.n, totals.c.volume,
                                                              totals.c.amount), pricing, currencies.c.minor_units)),
            else_=None,
        )
        updated = conn.execute(
            update(c)
            .where(
                c.c.bill_chg_id == totals.c.bill_chg_id,
                totals.c.n.is_not(None),
                c.c.aggregated_sw == "Y",
                pricing.c.price_assignment_id == c.c.price_assignment_id,
                currencies.c.currency_cd == c.c.currency_cd,
            )
            .values(txn_count=totals.c.n, txn_volume=totals.c.volume, txn_amount=totals.c.amount,
                    charge_amount=amount)
        ).rowcount
        deleted = conn.execute(
            delete(c).where(
                c.c.bill_chg_id.in_(select(totals.c.bill_chg_id).where(totals.c.n.is_(None))),
                c.c.aggregated_sw == "Y",
                ~exists().where(bill_segment.c.bill_chg_id == c.c.bill_chg_id),
            )
        ).rowcount
        rewrite_charge_lines(conn, select(totals.c.bill_chg_id).subquery())
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
            dsum(leg.c.calc_amount).label("calculated"),
        )
        .where(leg.c.bill_chg_id.in_(charge_ids), leg.c.status.in_(statuses))
        .group_by(leg.c.bill_chg_id)
        .subquery()
    )


def feed_aggregated_charges(header_ids: Sequence[str]) -> Select:
    """Ids of the aggregated charges holding legs of the feeds."""
    leg = txn_leg
    return (
        select(leg.c.bill_chg_id)
        .where(leg.c.header_id.in_(header_ids), leg.c.aggregate_sw == "Y", leg.c.bill_chg_id.is_not(None))
        .distinct()
    )

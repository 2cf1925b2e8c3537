"""Service quantities and billable charges (C1-TXNSQ).

Charges are made for the ``INPD``, not-ignored legs of transactions still ``INPD`` (a
transaction already ``EROR`` gets none, so nothing has to be taken back later).
Non-aggregated pricing: one charge per leg, dated on the transaction date. Aggregated
pricing: the legs join the open charge of their (account, price item, param value, price
assignment, currency, aggregation period) — one not on any bill yet — or a new one; every
charge touched is then recomputed from all its legs.

Charge ids come from the row-locked ``bill_chg_id`` counter, taken first: on PostgreSQL
this serialises charge-writing steps, so two feeds never open the same charge twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    Integer,
    String,
    and_,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)

from billing.db.bulk import analyze
from billing.db.engine import allocate_ids, insert_numbered
from billing.db.schema import bill_chg, bill_segment, txn_detail, txn_leg, txn_summary
from billing.db.scratch import scratch_table
from billing.tfm.charge_totals import feed_aggregated_charges, recompute_aggregated_charges

CHARGE_KEY = ("account_id", "price_item_cd", "param_value", "price_assignment_id", "currency_cd", "start_dt")
_LEG_KEY = {
    "account_id": txn_leg.c.account_id,
    "price_item_cd": txn_leg.c.price_item_cd,
    "param_value": txn_leg.c.param_value,
    "price_assignment_id": txn_leg.c.price_assignment_id,
    "currency_cd": txn_leg.c.pricing_currency_cd,
    "start_dt": txn_leg.c.agg_period_start,
}


def create_charges(conn: Connection, header_ids: Sequence[str]) -> dict[str, int]:
    allocate_ids(conn, "bill_chg_id", 0)
    leg = txn_leg
    eligible = and_(
        leg.c.header_id.in_(header_ids),
        leg.c.status == "INPD",
        leg.c.bill_chg_id.is_(None),
        leg.c.ignore_sw == "N",
        exists().where(txn_detail.c.txn_id == leg.c.txn_id, txn_detail.c.status == "INPD"),
    )
    with scratch_table(
        conn, "txnsq_assign", Column("leg_id", BigInteger, primary_key=True), Column("bill_chg_id", BigInteger)
    ) as assign:
        single = _charge_each_leg(conn, and_(eligible, leg.c.aggregate_sw == "N"), assign)
        opened, joined = _aggregate_legs(conn, and_(eligible, leg.c.aggregate_sw == "Y"), assign)
        analyze(conn, assign)
        # The feeds' legs only (their header_id index): joined with all legs, this pass grew with the history.
        conn.execute(update(leg).where(leg.c.header_id.in_(header_ids), leg.c.leg_id == assign.c.leg_id)
                     .values(bill_chg_id=assign.c.bill_chg_id))
    analyze(conn, txn_leg)
    analyze(conn, bill_chg)
    totals = recompute_aggregated_charges(conn, feed_aggregated_charges(header_ids))
    _mark_summaries_charged(conn, header_ids)
    return {"single_charges": single, "aggregated_opened": opened, "aggregated_legs": joined,
            "aggregated_recomputed": totals["recomputed"]}


def _mark_summaries_charged(conn: Connection, header_ids: Sequence[str]) -> None:
    """Verified summaries are charged (``C``); aggregated ones point at their charge."""
    leg, s = txn_leg, txn_summary
    charge_of = (
        select(leg.c.summary_id, func.max(leg.c.bill_chg_id).label("bill_chg_id"))
        .where(leg.c.header_id.in_(header_ids), leg.c.aggregate_sw == "Y", leg.c.bill_chg_id.is_not(None))
        .group_by(leg.c.summary_id)
        .subquery()
    )
    conn.execute(
        update(s)
        .where(s.c.header_id.in_(header_ids), s.c.status == "V", s.c.summary_id == charge_of.c.summary_id)
        .values(status="C", bill_chg_id=charge_of.c.bill_chg_id)
    )
    conn.execute(update(s).where(s.c.header_id.in_(header_ids), s.c.status == "V").values(status="C"))


def _charge_each_leg(conn: Connection, chosen, assign) -> int:
    """One new charge per chosen leg; the leg → charge pairs go to ``assign``."""
    leg = txn_leg
    count = insert_numbered(conn, assign, "bill_chg_id", select(leg.c.leg_id).where(chosen), order_by=("leg_id",))
    if not count:
        return 0
    charges = select(
        assign.c.bill_chg_id, leg.c.account_id, leg.c.price_item_cd, leg.c.param_value, leg.c.txn_dt,
        leg.c.txn_dt, literal("BILLABLE"), literal("N"), leg.c.price_assignment_id, leg.c.rating_criteria,
        leg.c.pricing_currency_cd, literal(1), leg.c.sqi_volume, leg.c.sqi_amount,
        leg.c.calc_amount, literal("TFM"),
    ).select_from(assign.join(leg, leg.c.leg_id == assign.c.leg_id))
    conn.execute(insert(bill_chg).from_select(
        ["bill_chg_id", "account_id", "price_item_cd", "param_value", "start_dt", "end_dt", "status",
         "aggregated_sw", "price_assignment_id", "rating_criteria", "currency_cd", "txn_count", "txn_volume",
         "txn_amount", "charge_amount", "source"],
        charges,
    ))
    return count


def _aggregate_legs(conn: Connection, chosen, assign) -> tuple[int, int]:
    """Legs of one summary share their charge key, so the keys are numbered per summary and the
    legs join their charge through their ``summary_id`` — no wide join over the legs."""
    leg, c = txn_leg, bill_chg
    key_columns = [
        Column("account_id", String(64)),
        Column("price_item_cd", String(40)),
        Column("param_value", String(40)),
        Column("price_assignment_id", String(64)),
        Column("currency_cd", String(3)),
        Column("start_dt", Date),
        Column("end_dt", Date),
        Column("rating_criteria", String(4)),
    ]
    with scratch_table(
        conn, "txnsq_summaries", Column("summary_id", BigInteger, primary_key=True), Column("key_no", Integer),
        *(column._copy() for column in key_columns),
    ) as summaries, scratch_table(
        conn, "txnsq_keys", Column("key_no", Integer, primary_key=True), *key_columns,
        Column("new_no", Integer), Column("bill_chg_id", BigInteger),
    ) as keys:
        key_names = [column.name for column in key_columns]
        per_summary = (
            select(leg.c.summary_id, *(_LEG_KEY[k].label(k) for k in CHARGE_KEY),
                   leg.c.agg_period_end.label("end_dt"), leg.c.rating_criteria)
            .where(chosen).distinct().subquery()
        )
        conn.execute(insert(summaries).from_select(
            ["summary_id", "key_no", *key_names],
            select(per_summary.c.summary_id,
                   func.dense_rank().over(order_by=[per_summary.c[k] for k in CHARGE_KEY]),
                   *(per_summary.c[k] for k in key_names)),
        ))
        conn.execute(insert(keys).from_select(
            ["key_no", *key_names], select(summaries.c.key_no, *(summaries.c[k] for k in key_names)).distinct()
        ))
        analyze(conn, summaries)
        analyze(conn, keys)
        open_charge = (
            select(func.max(c.c.bill_chg_id))
            .where(
                c.c.status == "BILLABLE",
                c.c.aggregated_sw == "Y",
                *(c.c[k] == keys.c[k] for k in CHARGE_KEY),
                ~exists().where(bill_segment.c.bill_chg_id == c.c.bill_chg_id),
            )
            .scalar_subquery()
        )
        conn.execute(update(keys).values(bill_chg_id=open_charge))
        fresh = (
            select(keys.c.key_no, func.row_number().over(order_by=keys.c.key_no).label("n"))
            .where(keys.c.bill_chg_id.is_(None)).subquery()
        )
        conn.execute(update(keys).where(keys.c.key_no == fresh.c.key_no).values(new_no=fresh.c.n))
        opened = conn.execute(select(func.count()).where(keys.c.new_no.is_not(None))).scalar()
        if opened:
            first = allocate_ids(conn, "bill_chg_id", opened)
            conn.execute(update(keys).where(keys.c.new_no.is_not(None)).values(bill_chg_id=keys.c.new_no + (first - 1)))
            conn.execute(insert(bill_chg).from_select(
                ["bill_chg_id", *key_names, "status", "aggregated_sw", "txn_count", "txn_volume", "txn_amount",
                 "source"],
                select(keys.c.bill_chg_id, *(keys.c[k] for k in key_names), literal("BILLABLE"), literal("Y"),
                       literal(0), literal(0), literal(0), literal("TFM"))
                .where(keys.c.new_no.is_not(None)),
            ))
        joined = conn.execute(insert(assign).from_select(
            ["leg_id", "bill_chg_id"],
            select(leg.c.leg_id, keys.c.bill_chg_id)
            .select_from(leg.join(summaries, summaries.c.summary_id == leg.c.summary_id)
                         .join(keys, keys.c.key_no == summaries.c.key_no))
            .where(chosen),
        )).rowcount
    return opened, joined

"""Summaries (C1-TXNPS): one ``txn_summary`` row per (feed, account, price item, param value,
transaction date, processing date) over the feeds' ``INPD`` legs, so that pricing is
verified once per group instead of once per leg."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, func, insert, literal, select, update

from billing.db.bulk import analyze
from billing.db.engine import allocate_ids
from billing.db.schema import txn_leg, txn_summary

SUMMARY_KEY = ("account_id", "price_item_cd", "param_value", "txn_dt", "processing_dt")


def build_summaries(conn: Connection, header_ids: Sequence[str]) -> int:
    """Number the pending legs' groups (one window pass), then insert one summary per group."""
    leg = txn_leg
    pending = (leg.c.header_id.in_(header_ids), leg.c.status == "INPD", leg.c.summary_id.is_(None))
    key = [leg.c.header_id, *(leg.c[k] for k in SUMMARY_KEY)]
    count = conn.execute(select(func.count()).select_from(select(*key).where(*pending).distinct().subquery())).scalar()
    if not count:
        return 0
    first = allocate_ids(conn, "summary_id", count)
    numbered = select(
        leg.c.leg_id, (literal(first - 1) + func.dense_rank().over(order_by=key)).label("summary_id")
    ).where(*pending).subquery()
    conn.execute(update(leg).where(leg.c.leg_id == numbered.c.leg_id).values(summary_id=numbered.c.summary_id))
    groups = (
        select(leg.c.summary_id, *key, literal("I"))
        .where(leg.c.header_id.in_(header_ids), leg.c.status == "INPD", leg.c.summary_id >= first)
        .distinct()
    )
    conn.execute(insert(txn_summary).from_select(["summary_id", "header_id", *SUMMARY_KEY, "status"], groups))
    analyze(conn, txn_summary)
    analyze(conn, txn_leg)
    return count

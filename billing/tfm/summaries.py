"""Summaries (C1-TXNPS): one ``txn_summary`` row per (account, price item, param value,
transaction date, processing date) over the feed's ``INPD`` legs, so that pricing is
verified once per group instead of once per leg."""

from __future__ import annotations

from sqlalchemy import Connection, func, insert, literal, select, update

from billing.db.engine import allocate_ids
from billing.db.schema import txn_leg, txn_summary

SUMMARY_KEY = ("account_id", "price_item_cd", "param_value", "txn_dt", "processing_dt")


def build_summaries(conn: Connection, header_id: str) -> int:
    leg = txn_leg
    pending = (leg.c.header_id == header_id, leg.c.status == "INPD", leg.c.summary_id.is_(None))
    groups = select(*(leg.c[k] for k in SUMMARY_KEY)).where(*pending).distinct().subquery()
    count = conn.execute(select(func.count()).select_from(groups)).scalar()
    if not count:
        return 0
    first = allocate_ids(conn, "summary_id", count)
    numbered = select(
        literal(first - 1) + func.row_number().over(order_by=[groups.c[k] for k in SUMMARY_KEY]),
        literal(header_id),
        *(groups.c[k] for k in SUMMARY_KEY),
        literal("I"),
    )
    conn.execute(insert(txn_summary).from_select(["summary_id", "header_id", *SUMMARY_KEY, "status"], numbered))
    s = txn_summary
    conn.execute(
        update(leg)
        .where(*pending, s.c.header_id == header_id, s.c.status == "I", *(s.c[k] == leg.c[k] for k in SUMMARY_KEY))
        .values(summary_id=s.c.summary_id)
    )
    return count

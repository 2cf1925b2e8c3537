"""Summaries (C1-TXNPS): one ``txn_summary`` row per (feed, account, price item, param value,
transaction date, processing date) over the feeds' ``INPD`` legs, so that pricing is
verified once per group instead of once per leg."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Date,
    String,
    UniqueConstraint,
    and_,
    func,
    insert,
    literal,
    select,
    update,
)

from billing.db.bulk import analyze
from billing.db.engine import allocate_ids
from billing.db.schema import txn_leg, txn_summary
from billing.db.scratch import scratch_table

SUMMARY_KEY = ("account_id", "price_item_cd", "param_value", "txn_dt", "processing_dt")


def build_summaries(conn: Connection, header_ids: Sequence[str]) -> int:
    """Gather the pending legs' distinct keys (a few thousand for 200,000 transactions) and
    number them, then give each leg its key's number in one pass and insert the summaries
    from the keys — rather than number the legs themselves, a sort of every leg."""
    leg = txn_leg
    pending = and_(leg.c.header_id.in_(header_ids), leg.c.status == "INPD", leg.c.summary_id.is_(None))
    names = ["header_id", *SUMMARY_KEY]
    with scratch_table(
        conn, "txnps_keys", Column("key_no", BigInteger, primary_key=True), Column("header_id", String(120)),
        Column("account_id", String(64)), Column("price_item_cd", String(40)), Column("param_value", String(40)),
        Column("txn_dt", Date), Column("processing_dt", Date),
        # the legs' look-up of their key: without it SQLite's UPDATE … FROM scanned the feed's
        # legs once per key (minutes for 20,000 transactions)
        UniqueConstraint(*names),
    ) as keys:
        distinct = select(*(leg.c[name] for name in names)).where(pending).distinct().subquery()
        count = conn.execute(insert(keys).from_select(
            ["key_no", *names],
            select(func.row_number().over(order_by=[distinct.c[name] for name in names]),
                   *(distinct.c[name] for name in names)),
        )).rowcount
        if not count:
            return 0
        first = allocate_ids(conn, "summary_id", count)
        analyze(conn, keys)
        summary_id = keys.c.key_no + (first - 1)
        conn.execute(
            update(leg)
            .where(pending, *(leg.c[name] == keys.c[name] for name in names))
            .values(summary_id=summary_id)
        )
        conn.execute(insert(txn_summary).from_select(
            ["summary_id", *names, "status"], select(summary_id, *(keys.c[name] for name in names), literal("I"))
        ))
    analyze(conn, txn_summary)
    analyze(conn, txn_leg)
    return count

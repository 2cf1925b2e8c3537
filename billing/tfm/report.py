"""What some feeds, or the whole database, look like now: counts and amounts by status.

Feeds the assets' metadata, the ``billing status`` command and the feed-process summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import Connection, func, select

from billing.db.money import dsum
from billing.db.schema import bill_chg, txn_detail, txn_detail_stg, txn_header, txn_leg


def transactions_by_status(conn: Connection, header_ids: Sequence[str] | None = None) -> dict[str, dict]:
    """``{status: {"count": n, "amount": Σ amount}}`` over txn_detail and staging."""
    result: dict[str, dict] = {}
    for table in (txn_detail, txn_detail_stg):
        query = select(table.c.status, func.count(), dsum(table.c.amount)).group_by(table.c.status)
        if header_ids is not None:
            query = query.where(table.c.header_id.in_(header_ids))
        for status, count, amount in conn.execute(query):
            entry = result.setdefault(status, {"count": 0, "amount": Decimal(0)})
            entry["count"] += count
            entry["amount"] += amount or Decimal(0)
    return dict(sorted(result.items()))


def transactions_by_feed(conn: Connection, header_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """``{header_id: {status: n}}`` over txn_detail and staging."""
    result: dict[str, dict[str, int]] = {}
    for table in (txn_detail, txn_detail_stg):
        query = (select(table.c.header_id, table.c.status, func.count())
                 .where(table.c.header_id.in_(header_ids)).group_by(table.c.header_id, table.c.status))
        for header_id, status, count in conn.execute(query):
            counts = result.setdefault(header_id, {})
            counts[status] = counts.get(status, 0) + count
    return result


def legs_by_status(conn: Connection, header_ids: Sequence[str] | None = None) -> dict[str, int]:
    query = select(txn_leg.c.status, func.count()).group_by(txn_leg.c.status)
    if header_ids is not None:
        query = query.where(txn_leg.c.header_id.in_(header_ids))
    return dict(sorted(conn.execute(query).all()))


def feeds_by_status(conn: Connection) -> dict[str, int]:
    return dict(sorted(conn.execute(select(txn_header.c.status, func.count()).group_by(txn_header.c.status)).all()))


def charges_by_status(conn: Connection, header_ids: Sequence[str] | None = None) -> list[dict]:
    """Charges by (status, aggregated, currency): count, Σ charge_amount, Σ txn_count."""
    c = bill_chg
    query = select(
        c.c.status, c.c.aggregated_sw, c.c.currency_cd, func.count(), dsum(c.c.charge_amount), func.sum(c.c.txn_count)
    ).group_by(c.c.status, c.c.aggregated_sw, c.c.currency_cd).order_by(c.c.status, c.c.aggregated_sw, c.c.currency_cd)
    if header_ids is not None:
        query = query.where(
            c.c.bill_chg_id.in_(select(txn_leg.c.bill_chg_id).where(txn_leg.c.header_id.in_(header_ids)))
        )
    return [
        {"status": s, "aggregated": a, "currency": cur, "charges": n, "amount": amt or Decimal(0), "transactions": t or 0}
        for s, a, cur, n, amt, t in conn.execute(query)
    ]


def markdown_table(rows: list[dict]) -> str:
    """A small Markdown table for Dagster metadata previews."""
    if not rows:
        return "_none_"
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)

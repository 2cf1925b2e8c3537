"""The invariants that must hold after every job (DESIGN §6), for some feeds or all.

Each function returns a list of human-readable violations (empty when the invariant holds);
the asset checks block on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import Connection, func, literal, or_, select

from billing.db.money import dsign, dsub, to_text
from billing.db.schema import bill_chg, txn_leg
from billing.tfm.charge_totals import CHARGED_LEG_STATUSES, leg_sums
from billing.tfm.report import transactions_by_status
from billing.tfm.upload import feed_header

SAMPLE = 5


def comp_legs_on_one_charge(conn: Connection, header_ids: Sequence[str] | None = None) -> list[str]:
    """Each ``COMP`` leg (of the feeds, or of every feed) sits on exactly one non-canceled charge."""
    leg, c = txn_leg, bill_chg
    query = (
        select(leg.c.leg_id, leg.c.header_id)
        .select_from(leg.outerjoin(c, c.c.bill_chg_id == leg.c.bill_chg_id))
        .where(leg.c.status == "COMP", or_(c.c.bill_chg_id.is_(None), c.c.status == "CANCELED"))
        .limit(SAMPLE)
    )
    if header_ids is not None:
        query = query.where(leg.c.header_id.in_(header_ids))
    return [f"COMP leg {leg_id} of feed {feed} is on no billable charge" for leg_id, feed in conn.execute(query)]


def charge_sqis_match_legs(conn: Connection, header_ids: Sequence[str] | None = None) -> list[str]:
    """Each charge holding legs of the feeds — or each billable charge made from transactions,
    when no feed is given — has SQIs equal to the sums over its legs."""
    leg, c = txn_leg, bill_chg
    if header_ids is not None:
        charge_ids = select(leg.c.bill_chg_id).where(leg.c.header_id.in_(header_ids), leg.c.bill_chg_id.is_not(None))
    else:
        charge_ids = select(c.c.bill_chg_id).where(c.c.source == "TFM", c.c.status == "BILLABLE")
    sums = leg_sums(charge_ids, CHARGED_LEG_STATUSES)  # another feed's legs may be INPD on it
    n = func.coalesce(sums.c.n, 0)
    volume, amount = (func.coalesce(column, literal(0)) for column in (sums.c.volume, sums.c.amount))
    # Compared in SQL, exactly (the sign of the difference), so a whole-database check reads
    # only the charges that are wrong.
    rows = conn.execute(
        select(c.c.bill_chg_id, c.c.txn_count, c.c.txn_volume, c.c.txn_amount, n, volume, amount)
        .select_from(c.outerjoin(sums, sums.c.bill_chg_id == c.c.bill_chg_id))
        .where(c.c.bill_chg_id.in_(charge_ids),
               or_(c.c.txn_count != n, dsign(dsub(c.c.txn_volume, volume)) != 0,
                   dsign(dsub(c.c.txn_amount, amount)) != 0))
        .order_by(c.c.bill_chg_id)
        .limit(SAMPLE)
    ).all()
    return [
        f"charge {charge_id}: SQIs ({count}, {to_text(volume)}, {to_text(amount)}) differ from its COMP legs "
        f"({legs}, {to_text(leg_volume)}, {to_text(leg_amount)})"
        for charge_id, count, volume, amount, legs, leg_volume, leg_amount in rows
    ]


def feed_reconciles(conn: Connection, header_id: str) -> list[str]:
    """Every row of the feed has a status, none is left half-way, and for a validated feed
    the COMP transactions hold the file's total less the other statuses (DESIGN §6)."""
    header = feed_header(conn, header_id)
    by_status = transactions_by_status(conn, [header_id])
    problems = []
    rows = sum(entry["count"] for entry in by_status.values())
    if header.file_record_count is not None and rows != header.file_record_count:
        problems.append(f"feed {header_id}: {header.file_record_count} rows in the file, {rows} transactions stored")
    if "INPD" in by_status:
        problems.append(f"feed {header_id}: {by_status['INPD']['count']} transactions left INPD")
    if header.status == "VALI":
        # Σ COMP = the file's total − Σ INVL/EROR/IGNR/CNCL (and what still waits in staging)
        others = sum((e["amount"] for s, e in by_status.items() if s != "COMP"), Decimal(0))
        completed = by_status.get("COMP", {}).get("amount", Decimal(0))
        if completed != header.file_total_amount - others:
            detail = ", ".join(f"{s} {to_text(e['amount'])}" for s, e in by_status.items())
            problems.append(
                f"feed {header_id}: COMP transactions hold {to_text(completed)}, the file's total "
                f"{to_text(header.file_total_amount)} less the others ({detail}) leaves "
                f"{to_text(header.file_total_amount - others)}"
            )
    return problems

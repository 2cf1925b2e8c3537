"""Pending bills taken apart by a feed cancellation (C1-DELBL) or a disaggregation
(C1-BSEGD, C1-PNBD).

A bill is first listed in ``deleted_bill`` (the seed's CI_DELETE_BILL_DETAIL) as ``LISTED``;
its ``FREEZABLE``/``ERROR`` segments are deleted; then a listed bill left with no segment is
deleted (``DELETED``) and one still holding a frozen or canceled segment stays (``KEPT``).
Running the close of day of a ``DELETED`` bill's date again bills its account afresh, from
the charges as they are by then, and marks it ``REBUILT``.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, Select, and_, case, delete, exists, func, insert, literal, select, update

from billing.db.schema import bill, bill_segment, deleted_bill

UNFROZEN_SEGMENT_STATUSES = ("FREEZABLE", "ERROR")


def list_pending_bills(conn: Connection, bills: Select, request_type: str) -> int:
    """List, once, the ``PENDING`` bills among ``bills`` — rows of (bill_id, request_ref)."""
    found = bills.subquery()
    b = bill
    rows = (
        select(b.c.bill_id, b.c.account_id, b.c.bill_dt, found.c[1], literal(request_type), literal("LISTED"))
        .join(found, found.c[0] == b.c.bill_id)
        .where(b.c.status == "PENDING", ~exists().where(deleted_bill.c.bill_id == b.c.bill_id))
        .distinct()
    )
    return conn.execute(insert(deleted_bill).from_select(
        ["bill_id", "account_id", "bill_dt", "request_ref", "request_type", "status"], rows)).rowcount


def delete_listed_segments(conn: Connection, request_type: str) -> int:
    """C1-BSEGD: the ``FREEZABLE``/``ERROR`` segments of the listed bills."""
    return conn.execute(delete(bill_segment).where(
        bill_segment.c.bill_id.in_(_listed(request_type)),
        bill_segment.c.status.in_(UNFROZEN_SEGMENT_STATUSES),
    )).rowcount


def delete_emptied_bills(conn: Connection, request_type: str) -> dict[str, int]:
    """C1-PNBD: listed bills left with no segment are deleted; the others are kept."""
    listed = deleted_bill
    is_listed = and_(listed.c.status == "LISTED", listed.c.request_type == request_type)
    holding = exists().where(bill_segment.c.bill_id == listed.c.bill_id)
    kept = conn.execute(update(listed).where(is_listed, holding).values(status="KEPT")).rowcount
    deleted = conn.execute(delete(bill).where(
        bill.c.bill_id.in_(_listed(request_type)), bill.c.status == "PENDING",
        ~exists().where(bill_segment.c.bill_id == bill.c.bill_id),
    )).rowcount
    conn.execute(update(listed).where(is_listed).values(status="DELETED"))
    return {"bills_deleted": deleted, "bills_kept": kept}


def _listed(request_type: str) -> Select:
    return select(deleted_bill.c.bill_id).where(deleted_bill.c.status == "LISTED",
                                                deleted_bill.c.request_type == request_type)


def days_to_rebuild(conn: Connection) -> list[tuple[date, int]]:
    """Bill dates with deleted pending bills whose close of day has not been run again, each
    with the number of bills ever deleted for that date (it grows with every new deletion)."""
    d = deleted_bill
    waiting = func.sum(case((d.c.status == "DELETED", 1), else_=0))
    return [tuple(row) for row in conn.execute(
        select(d.c.bill_dt, func.count()).group_by(d.c.bill_dt).having(waiting > 0).order_by(d.c.bill_dt))]


def mark_rebuilt(conn: Connection, day: date) -> int:
    """The day's deleted bills have been billed afresh (by the close of day of ``day``)."""
    return conn.execute(update(deleted_bill).where(deleted_bill.c.bill_dt == day, deleted_bill.c.status == "DELETED")
                        .values(status="REBUILT")).rowcount

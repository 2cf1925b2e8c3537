"""Mark completion (C1-TXNCM): charged legs ``COMP``; a transaction whose legs are all
``COMP`` or ``IGNR``, at least one ``COMP``, is ``COMP`` (found in one grouped pass over the
feed's legs)."""

from __future__ import annotations

from sqlalchemy import Connection, case, func, select, update

from billing.db.bulk import analyze
from billing.db.schema import txn_detail, txn_leg


def mark_completion(conn: Connection, header_id: str) -> dict[str, int]:
    leg, d = txn_leg, txn_detail
    legs = conn.execute(
        update(leg)
        .where(leg.c.header_id == header_id, leg.c.status == "INPD", leg.c.bill_chg_id.is_not(None))
        .values(status="COMP")
    ).rowcount
    done = (
        select(leg.c.txn_id)
        .where(leg.c.header_id == header_id)
        .group_by(leg.c.txn_id)
        .having(
            func.sum(case((leg.c.status == "COMP", 1), else_=0)) > 0,
            func.sum(case((leg.c.status.not_in(("COMP", "IGNR")), 1), else_=0)) == 0,
        )
        .subquery()
    )
    completed = conn.execute(
        update(d)
        .where(d.c.txn_id == done.c.txn_id, d.c.status == "INPD")
        .values(status="COMP", message=None)
    ).rowcount
    analyze(conn, txn_leg)
    analyze(conn, d)
    by_status = dict(
        conn.execute(select(d.c.status, func.count()).where(d.c.header_id == header_id).group_by(d.c.status)).all()
    )
    return {"legs_completed": legs, "transactions_completed": completed, **by_status}

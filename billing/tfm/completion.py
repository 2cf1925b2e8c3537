"""Mark completion (C1-TXNCM): charged legs ``COMP``; a transaction whose legs are all
``COMP`` or ``IGNR``, at least one ``COMP``, is ``COMP``."""

from __future__ import annotations

from sqlalchemy import Connection, exists, func, select, update

from billing.db.schema import txn_detail, txn_leg


def mark_completion(conn: Connection, header_id: str) -> dict[str, int]:
    leg, d = txn_leg, txn_detail
    legs = conn.execute(
        update(leg)
        .where(leg.c.header_id == header_id, leg.c.status == "INPD", leg.c.bill_chg_id.is_not(None))
        .values(status="COMP")
    ).rowcount
    completed = conn.execute(
        update(d)
        .where(
            d.c.header_id == header_id,
            d.c.status == "INPD",
            exists().where(leg.c.txn_id == d.c.txn_id, leg.c.status == "COMP"),
            ~exists().where(leg.c.txn_id == d.c.txn_id, leg.c.status.not_in(("COMP", "IGNR"))),
        )
        .values(status="COMP", message=None)
    ).rowcount
    by_status = dict(
        conn.execute(select(d.c.status, func.count()).where(d.c.header_id == header_id).group_by(d.c.status)).all()
    )
    return {"legs_completed": legs, "transactions_completed": completed, **by_status}

"""Moving transactions between staging (``txn_detail_stg``) and ``txn_detail``."""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, Connection, delete, insert, literal, select

from billing.db.schema import TXN_COLUMN_NAMES, txn_detail, txn_detail_stg


def move_staged_to_detail(
    conn: Connection,
    where: ColumnElement[bool],
    *,
    status: ColumnElement,
    message: ColumnElement,
    business_dt: date | None = None,
) -> int:
    """Move the staged rows matching ``where`` into ``txn_detail`` with the given status.

    ``status`` and ``message`` may be SQL expressions over the staging row.
    """
    stg = txn_detail_stg
    columns = ["txn_id", "header_id", *TXN_COLUMN_NAMES]
    chosen = select(
        *(stg.c[name] for name in columns),
        status,
        literal(business_dt, txn_detail.c.business_dt.type),
        message,
    ).where(where)
    moved = conn.execute(
        insert(txn_detail).from_select([*columns, "status", "business_dt", "message"], chosen)
    ).rowcount
    conn.execute(delete(stg).where(where))
    return moved

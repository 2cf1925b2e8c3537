"""Moving transactions between staging (``txn_detail_stg``) and ``txn_detail``."""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, Connection, Select, delete, insert, literal, select, update

from billing.db.schema import (
    TXN_COLUMN_NAMES,
    rollback_txn,
    txn_detail,
    txn_detail_excp,
    txn_detail_stg,
    txn_header,
)


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


def move_detail_to_staged(conn: Connection, txn_ids: Select) -> int:
    """Send the transactions whose ids ``txn_ids`` selects back to staging as ``UPLD``, to be
    validated and derived again (rollback, disaggregation); their exceptions and rollback
    entries go with them."""
    d = txn_detail
    columns = ["txn_id", "header_id", *TXN_COLUMN_NAMES]
    chosen = select(*(d.c[name] for name in columns), literal("UPLD")).where(d.c.txn_id.in_(txn_ids))
    moved = conn.execute(insert(txn_detail_stg).from_select([*columns, "status"], chosen)).rowcount
    conn.execute(delete(txn_detail_excp).where(txn_detail_excp.c.txn_id.in_(txn_ids)))
    conn.execute(delete(rollback_txn).where(rollback_txn.c.txn_id.in_(txn_ids)))
    conn.execute(delete(d).where(d.c.txn_id.in_(txn_ids)))
    return moved


def bump_reprocess(conn: Connection, txn_ids: Select) -> None:
    """The feeds of these transactions enter a new reprocessing generation (see
    ``txn_header.reprocess_no``)."""
    feeds = select(txn_detail_stg.c.header_id).where(txn_detail_stg.c.txn_id.in_(txn_ids)).distinct()
    conn.execute(update(txn_header).where(txn_header.c.header_id.in_(feeds))
                 .values(reprocess_no=txn_header.c.reprocess_no + 1))

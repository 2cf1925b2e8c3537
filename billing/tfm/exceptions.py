"""Exception rows (``txn_detail_excp``), the rollback list and the transaction statuses they
imply: the shared bookkeeping of C1-TXNIP and C1-TXNEX."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Connection, FromClause, exists, insert, literal, select, update

from billing.db.schema import rollback_txn, txn_detail, txn_detail_excp

ROLLBACK_HINT = "; fix the reference data, then roll back EROR transactions to re-process them"


def record_exceptions(
    conn: Connection,
    source: FromClause,
    txn_id: ColumnElement,
    header_id: ColumnElement,
    error_code: str | ColumnElement,
    message: ColumnElement,
    condition: ColumnElement[bool],
    leg_id: ColumnElement | None = None,
) -> int:
    """Insert one exception row per row of ``source`` meeting ``condition`` (``header_id``: the
    column of ``source`` naming the row's feed)."""
    code = literal(error_code) if isinstance(error_code, str) else error_code
    rows = select(
        txn_id, code, leg_id if leg_id is not None else literal(0), header_id, message
    ).select_from(source).where(condition)
    return conn.execute(
        insert(txn_detail_excp).from_select(["txn_id", "error_code", "leg_id", "header_id", "message"], rows)
    ).rowcount


def mark_in_error(conn: Connection, header_ids: Sequence[str], prefix: str) -> int:
    """``INPD`` transactions of the feeds that have exceptions become ``EROR``, with their first
    reason as message, and join the rollback list."""
    d = txn_detail
    e = txn_detail_excp
    first_reason = (
        select(e.c.message).where(e.c.txn_id == d.c.txn_id).order_by(e.c.leg_id, e.c.error_code).limit(1)
        .scalar_subquery()
    )
    changed = conn.execute(
        update(d)
        .where(d.c.header_id.in_(header_ids), d.c.status == "INPD", exists().where(e.c.txn_id == d.c.txn_id))
        .values(status="EROR", message=literal(prefix) + first_reason)
    ).rowcount
    add_to_rollback_list(conn, header_ids, "EROR")
    return changed


def add_to_rollback_list(conn: Connection, header_ids: Sequence[str], status: str) -> None:
    """Every transaction of the feeds in ``status`` gets its rollback entry (once)."""
    d = txn_detail
    r = rollback_txn
    missing = select(d.c.txn_id, d.c.header_id, d.c.status).where(
        d.c.header_id.in_(header_ids), d.c.status == status, ~exists().where(r.c.txn_id == d.c.txn_id)
    )
    conn.execute(insert(r).from_select(["txn_id", "header_id", "status"], missing))

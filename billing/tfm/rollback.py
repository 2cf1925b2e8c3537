"""Rollback (C1-TXNRB): transactions in ``EROR`` or ``IGNR`` back to staging as ``UPLD``.

Driven by the rollback list, filtered by the seed's parameters. Their legs go, with their
calculation lines, exceptions and rollback entries — except, for an ``EROR`` transaction,
legs already ``COMP`` or ``IGNR``: those are kept aside (left as they are on their charges)
and C1-TXNIP derives only the legs that are missing. The next aggregation run of each
affected feed (the re-aggregation sensor, or ``billing rollback`` itself) re-processes them
against the reference data as it is now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Optional

from sqlalchemy import BigInteger, Column, Connection, delete, func, insert, select

from billing.db.bulk import analyze
from billing.db.schema import rollback_txn, txn_detail, txn_detail_stg, txn_header, txn_leg
from billing.db.scratch import scratch_table
from billing.errors import BillingError
from billing.tfm.calc_lines import drop_leg_lines
from billing.tfm.moves import bump_reprocess, move_detail_to_staged

ROLLBACK_STATUSES = ("EROR", "IGNR")
KEPT_LEG_STATUSES = ("COMP", "IGNR")


@dataclass(frozen=True)
class RollbackFilter:
    """The seed's parameters: status (mandatory), feed, source, division, transaction dates."""

    status: str
    header_id: Optional[str] = None
    source: Optional[str] = None
    division: Optional[str] = None
    from_dt: Optional[date] = None
    to_dt: Optional[date] = None

    def __post_init__(self) -> None:
        if self.status not in ROLLBACK_STATUSES:
            raise BillingError(f"rollback status {self.status!r} is not one of {', '.join(ROLLBACK_STATUSES)}")
        if self.from_dt and self.to_dt and self.from_dt > self.to_dt:
            raise BillingError(f"rollback from date {self.from_dt} is later than the to date {self.to_dt}: "
                               "give --from on or before --to")


@dataclass(frozen=True)
class RollbackResult:
    transactions: int
    legs_deleted: int
    legs_kept: int
    feeds: list[str]


def roll_back(conn: Connection, chosen: RollbackFilter) -> RollbackResult:
    r, d, h, leg = rollback_txn, txn_detail, txn_header, txn_leg
    matching = (
        select(d.c.txn_id)
        .join(r, r.c.txn_id == d.c.txn_id)
        .join(h, h.c.header_id == d.c.header_id)
        .where(r.c.status == chosen.status, d.c.status == chosen.status)
    )
    for column, value in ((h.c.header_id, chosen.header_id), (h.c.txn_source_cd, chosen.source),
                          (h.c.division_cd, chosen.division)):
        if value:
            matching = matching.where(column == value)
    if chosen.from_dt:
        matching = matching.where(d.c.txn_dt >= chosen.from_dt)
    if chosen.to_dt:
        matching = matching.where(d.c.txn_dt <= chosen.to_dt)
    with scratch_table(conn, "txnrb_batch", Column("txn_id", BigInteger, primary_key=True)) as batch:
        conn.execute(insert(batch).from_select(["txn_id"], matching))
        analyze(conn, batch)
        ids = select(batch.c.txn_id)
        going = leg.c.txn_id.in_(ids)
        if chosen.status == "EROR":
            going = going & leg.c.status.not_in(KEPT_LEG_STATUSES)
        drop_leg_lines(conn, select(leg.c.leg_id).where(going).subquery())
        deleted = conn.execute(delete(leg).where(going)).rowcount
        kept = conn.execute(select(func.count()).select_from(leg).where(leg.c.txn_id.in_(ids))).scalar()
        moved = move_detail_to_staged(conn, ids)
        bump_reprocess(conn, ids)
        feeds = conn.execute(
            select(txn_detail_stg.c.header_id).where(txn_detail_stg.c.txn_id.in_(ids)).distinct()
            .order_by(txn_detail_stg.c.header_id)
        ).scalars().all()
    analyze(conn, txn_detail)
    analyze(conn, txn_detail_stg)
    return RollbackResult(moved, deleted, kept, list(feeds))


def feeds_to_reaggregate(conn: Connection, business_dt: date) -> list[tuple[str, int]]:
    """Validated feeds, processed before, with transactions due by ``business_dt`` waiting in
    staging again (rolled back, disaggregated, or dated later than the first run's business
    date), each with its reprocessing generation."""
    h, stg, d = txn_header, txn_detail_stg, txn_detail
    waiting = select(stg.c.header_id).where(stg.c.txn_dt <= business_dt).distinct().subquery()
    processed = select(d.c.header_id).where(d.c.header_id == h.c.header_id).exists()
    return [tuple(row) for row in conn.execute(
        select(h.c.header_id, h.c.reprocess_no)
        .join(waiting, waiting.c.header_id == h.c.header_id)
        .where(h.c.status == "VALI", processed)
        .order_by(h.c.header_id)
    ).all()]


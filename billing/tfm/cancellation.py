"""Cancellation of a feed (DESIGN §6): C1-DELBL → C1-TXNCU (``CNCL``) → C1-TXCNC.

Refused while any charge holding the feed's legs is on a ``COMPLETE`` bill or on a
``FROZEN``/``PENDING_CANCEL`` segment: what has been invoiced is undone by a credit note and
a disaggregation first, never by making charges vanish under an invoice. Otherwise the
pending bills holding those charges are deleted (and listed, to be billed afresh when their
day is run again), the feed's charges deleted or recomputed without its legs, and the feed
and every one of its transactions end ``CNCL``. Each step is one database transaction and
may be run again: a cancelled feed has nothing left to cancel.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, String, delete, exists, insert, literal, or_, select, update

from billing.db.bulk import analyze
from billing.db.schema import (
    bill,
    bill_chg,
    bill_segment,
    rollback_txn,
    txn_detail,
    txn_detail_excp,
    txn_detail_stg,
    txn_header,
    txn_leg,
    txn_summary,
)
from billing.db.scratch import scratch_table
from billing.errors import BillingError
from billing.invoicing.deleted_bills import delete_emptied_bills, delete_listed_segments, list_pending_bills
from billing.tfm.calc_lines import drop_leg_lines
from billing.tfm.charge_totals import recompute_aggregated_charges
from billing.tfm.moves import move_staged_to_detail

SAMPLE = 5


class CancellationRefused(BillingError):
    """The feed's charges are invoiced: nothing was changed."""


def _feed_charges(header_id: str):
    return select(txn_leg.c.bill_chg_id).where(txn_leg.c.header_id == header_id, txn_leg.c.bill_chg_id.is_not(None))


def refusal(conn: Connection, header_id: str) -> str | None:
    """Why the feed cannot be cancelled, or None when it can (an unknown feed is an error)."""
    known = conn.execute(select(txn_header.c.status).where(txn_header.c.header_id == header_id)).scalar()
    if known is None:
        raise BillingError(f"feed {header_id} is unknown: give a header_id that `billing status` lists")
    s, b = bill_segment, bill
    invoiced = conn.execute(
        select(b.c.bill_id, b.c.invoice_number, b.c.status, s.c.status)
        .join(b, b.c.bill_id == s.c.bill_id)
        .where(s.c.bill_chg_id.in_(_feed_charges(header_id)),
               or_(b.c.status == "COMPLETE", s.c.status.in_(("FROZEN", "PENDING_CANCEL"))))
        .distinct().order_by(b.c.bill_id).limit(SAMPLE)
    ).all()
    if not invoiced:
        return None
    bills = ", ".join(f"{bill_id} ({number or 'no invoice number'}, {status}, segment {segment})"
                      for bill_id, number, status, segment in invoiced)
    return (f"feed {header_id} cannot be cancelled: its charges are on invoiced bills — {bills}. Nothing was "
            "changed. Cancel those bills with a credit note (`billing bill cancel BILL_ID`) and re-rate their "
            "accounts (`billing disaggregate`), then cancel the feed again.")


def delete_pending_bills(conn: Connection, header_id: str) -> dict[str, int]:
    """C1-DELBL: the pending bills holding the feed's charges, with their segments."""
    reason = refusal(conn, header_id)
    if reason:
        raise CancellationRefused(reason)
    s = bill_segment
    holding = select(s.c.bill_id, literal(header_id)).where(s.c.bill_chg_id.in_(_feed_charges(header_id)))
    listed = list_pending_bills(conn, holding, "CNCL")
    segments = delete_listed_segments(conn, "CNCL")
    return {"bills_listed": listed, "segments_deleted": segments, **delete_emptied_bills(conn, "CNCL")}


def cancel_charges(conn: Connection, header_id: str) -> dict[str, int]:
    """C1-TXNCU (``CNCL``): the feed's legs leave their charges; its non-aggregated charges are
    deleted, aggregated ones recomputed from the legs of other feeds (deleted when none is
    left). Refused if a charge was billed again since C1-DELBL."""
    s, c, leg = bill_segment, bill_chg, txn_leg
    billed = conn.execute(select(s.c.bill_id).where(s.c.bill_chg_id.in_(_feed_charges(header_id))).limit(1)).scalar()
    if billed is not None:
        raise CancellationRefused(f"charges of feed {header_id} are on bill {billed}, billed after its pending "
                                  "bills were deleted: run the cancellation again (it deletes that bill first)")
    with scratch_table(conn, "txncu_cncl", Column("bill_chg_id", BigInteger, primary_key=True),
                       Column("aggregated_sw", String(1))) as charges:
        conn.execute(insert(charges).from_select(
            ["bill_chg_id", "aggregated_sw"],
            select(c.c.bill_chg_id, c.c.aggregated_sw).where(c.c.bill_chg_id.in_(_feed_charges(header_id)))))
        analyze(conn, charges)
        feed_legs = leg.c.header_id == header_id
        drop_leg_lines(conn, select(leg.c.leg_id).where(feed_legs, leg.c.calc_amount.is_not(None)).subquery())
        detached = conn.execute(update(leg).where(feed_legs, leg.c.bill_chg_id.is_not(None))
                                .values(bill_chg_id=None, calc_amount=None)).rowcount
        single = conn.execute(delete(c).where(
            c.c.bill_chg_id.in_(select(charges.c.bill_chg_id).where(charges.c.aggregated_sw == "N")))).rowcount
        totals = recompute_aggregated_charges(
            conn, select(charges.c.bill_chg_id).where(charges.c.aggregated_sw == "Y"))
    return {"legs_detached": detached, "single_charges_deleted": single,
            "aggregated_recomputed": totals["recomputed"], "aggregated_deleted": totals["deleted"]}


def cancel_feed(conn: Connection, header_id: str) -> dict[str, int]:
    """C1-TXCNC: the feed's legs deleted; the feed and all its transactions — staged ones too
    — ``CNCL``; its exceptions, rollback entries and summaries removed."""
    leg = txn_leg
    if conn.execute(select(exists().where(leg.c.header_id == header_id, leg.c.bill_chg_id.is_not(None)))).scalar():
        raise BillingError(f"legs of feed {header_id} still sit on charges: run C1-TXNCU (CNCL) before C1-TXCNC — "
                           "materialize the whole cancellation graph for the feed")
    drop_leg_lines(conn, select(leg.c.leg_id).where(leg.c.header_id == header_id, leg.c.calc_amount.is_not(None))
                   .subquery())
    legs = conn.execute(delete(leg).where(leg.c.header_id == header_id)).rowcount
    for table in (txn_detail_excp, rollback_txn, txn_summary):
        conn.execute(delete(table).where(table.c.header_id == header_id))
    message = literal(f"feed {header_id} cancelled")
    staged = move_staged_to_detail(conn, txn_detail_stg.c.header_id == header_id, status=literal("CNCL"),
                                   message=message)
    d = txn_detail
    cancelled = conn.execute(update(d).where(d.c.header_id == header_id, d.c.status != "CNCL")
                             .values(status="CNCL", message=message)).rowcount
    h = txn_header
    conn.execute(update(h).where(h.c.header_id == header_id, h.c.status != "CNCL")
                 .values(status="CNCL", message=literal("feed cancelled (was ") + h.c.status + literal(")")))
    return {"legs_deleted": legs, "transactions_cancelled": cancelled, "staged_cancelled": staged}

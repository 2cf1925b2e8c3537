"""Disaggregation — re-rating after a pricing change (DESIGN §6): C1-DISTG → C1-BSEGD →
C1-PNBD → C1-IDENT → C1-PDTXN → C1-TXNCU (``DISAGG``) → C1-DARSU.

Requests are per account (as the seed's are): every leg of the account dated on or after the
from-date and priced before the current pricing (``txn_leg.priced_load_id``; legs priced by
it already are right as they are, which also makes a repeated run a no-op) is taken apart,
unless its charge is on a ``FROZEN``/``PENDING_CANCEL`` segment —
an invoice stands until it is cancelled by a credit note, after which its segments are
``CANCELED`` and its charges are cancelled here (``CANCEL``) and re-rated. One choice beyond
the seed: an aggregated charge is taken apart whole — legs dated before the from-date
included — so that no charge is ever left half re-rated (the seed warns such a from-date
gives "erroneous results"). Transactions whose legs are taken apart go back to staging as
``UPLD``; their other legs (another account's) are kept aside, untouched on their charges,
and the next aggregation run derives only the missing legs, at the prices in effect now.

Each step works from the ``PENDING`` requests and the ``P`` rows of the work lists, in one
database transaction, so a step run again, or after a crash, finds nothing left to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Optional

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Integer,
    String,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)

from billing.db.bulk import analyze
from billing.db.engine import insert_numbered
from billing.db.schema import (
    accounts,
    bill,
    bill_chg,
    bill_segment,
    disagg_charge,
    disagg_leg,
    disagg_req,
    txn_calc_line,
    txn_detail,
    txn_leg,
)
from billing.db.scratch import scratch_table
from billing.invoicing.deleted_bills import delete_emptied_bills, delete_listed_segments, list_pending_bills
from billing.tfm.calc_lines import charge_line_id, drop_leg_lines
from billing.tfm.charge_totals import recompute_aggregated_charges
from billing.tfm.moves import bump_reprocess, move_detail_to_staged
from billing.tfm.pricing import pricing_version

PROCESSED_LEG_STATUSES = ("COMP", "IGNR")
INVOICED_SEGMENT_STATUSES = ("FROZEN", "PENDING_CANCEL")


@dataclass(frozen=True)
class DisaggregationScope:
    """The seed's C1-DISTG parameters: the from-date (mandatory) and the accounts' filters."""

    from_dt: date
    division: Optional[str] = None
    person: Optional[str] = None
    account: Optional[str] = None
    bill_cycle: Optional[str] = None


def create_requests(conn: Connection, scope: DisaggregationScope) -> int:
    """C1-DISTG: one ``PENDING`` request per account in scope that has legs to re-rate — dated
    on or after the from-date, priced before the current pricing and not invoiced — unless
    it has a pending request already. Run again once they are re-rated, it finds none."""
    a, leg, r = accounts, txn_leg, disagg_req
    version = pricing_version(conn)
    chosen = (
        select(a.c.account_id, a.c.person_id, literal(scope.from_dt, r.c.from_dt.type).label("from_dt"),
               literal("PENDING").label("status"), literal(version, Integer()).label("reference_load_id"))
        .where(
            exists().where(leg.c.account_id == a.c.account_id, leg.c.txn_dt >= scope.from_dt,
                           _stale(leg, version), _not_invoiced(leg)),
            ~exists().where(r.c.account_id == a.c.account_id, r.c.status == "PENDING"),
        )
    )
    for column, value in ((a.c.division_cd, scope.division), (a.c.person_id, scope.person),
                          (a.c.account_id, scope.account), (a.c.bill_cycle_cd, scope.bill_cycle)):
        if value:
            chosen = chosen.where(column == value)
    return insert_numbered(conn, disagg_req, "req_id", chosen, order_by=("account_id",))


def _stale(leg, version) -> ColumnElement[bool]:
    """A processed leg priced before ``version`` (legs from before versions were stamped too)."""
    return and_(leg.c.status.in_(PROCESSED_LEG_STATUSES), func.coalesce(leg.c.priced_load_id, -1) < version)


def _not_invoiced(leg) -> ColumnElement[bool]:
    """The leg's charge, if any, is on no ``FROZEN``/``PENDING_CANCEL`` segment."""
    s = bill_segment.alias("invoiced")
    return ~exists().where(s.c.bill_chg_id == leg.c.bill_chg_id, s.c.status.in_(INVOICED_SEGMENT_STATUSES))


def _pending_requests():
    r = disagg_req
    return select(r.c.req_id, r.c.account_id, r.c.from_dt, r.c.reference_load_id).where(r.c.status == "PENDING")


def delete_pending_bill_segments(conn: Connection) -> dict[str, int]:
    """C1-BSEGD (``DISAGG``): the pending bills of the requests' accounts are listed and lose
    their ``FREEZABLE``/``ERROR`` segments."""
    r = _pending_requests().subquery()
    bills = select(bill.c.bill_id, cast(r.c.req_id, String)).join(r, r.c.account_id == bill.c.account_id)
    listed = list_pending_bills(conn, bills, "DISAGG")
    return {"bills_listed": listed, "segments_deleted": delete_listed_segments(conn, "DISAGG")}


def delete_pending_bills(conn: Connection) -> dict[str, int]:
    """C1-PNBD (``DISAGG``): listed bills left with no segment are deleted."""
    return delete_emptied_bills(conn, "DISAGG")


def identify_legs(conn: Connection) -> dict[str, int]:
    """C1-IDENT: the legs to take apart, each with the action on its charge — ``DELETE``
    (unbilled), ``CANCEL`` (its segment was cancelled by a credit note) or ``NO_ACTION``
    (the charge is cancelled already) — and the aggregated charges they sit on."""
    r = _pending_requests().subquery()
    leg, dl = txn_leg, disagg_leg
    by_date = _identify(conn, r, and_(leg.c.txn_dt >= r.c.from_dt, _stale(leg, r.c.reference_load_id)))
    taken = select(dl.c.bill_chg_id).where(dl.c.status == "P", dl.c.aggregated_sw == "Y")
    whole_charges = _identify(conn, r, leg.c.bill_chg_id.in_(taken))
    dc = disagg_charge
    charges = conn.execute(insert(dc).from_select(
        ["bill_chg_id", "req_id", "action_cd", "status"],
        select(dl.c.bill_chg_id, dl.c.req_id, dl.c.action_cd, literal("P"))
        .where(dl.c.status == "P", dl.c.aggregated_sw == "Y",
               ~exists().where(dc.c.bill_chg_id == dl.c.bill_chg_id))
        .distinct(),
    )).rowcount
    analyze(conn, dl)
    return {"legs_identified": by_date + whole_charges, "legs_of_whole_charges": whole_charges,
            "aggregated_charges_identified": charges}


def _identify(conn: Connection, requests, condition: ColumnElement[bool]) -> int:
    leg, c, s, dl = txn_leg, bill_chg, bill_segment, disagg_leg
    action = case(
        (leg.c.bill_chg_id.is_(None), None),
        (c.c.status == "CANCELED", "NO_ACTION"),
        (s.c.status == "CANCELED", "CANCEL"),
        else_="DELETE",
    )
    chosen = (
        select(leg.c.leg_id, requests.c.req_id, leg.c.txn_id, leg.c.header_id, leg.c.bill_chg_id, c.c.aggregated_sw,
               action, literal("P"))
        .select_from(
            leg.join(requests, requests.c.account_id == leg.c.account_id)
            .outerjoin(c, c.c.bill_chg_id == leg.c.bill_chg_id)
            .outerjoin(s, s.c.bill_chg_id == leg.c.bill_chg_id)
        )
        .where(
            leg.c.status.in_(PROCESSED_LEG_STATUSES),
            condition,
            _not_invoiced(leg),
            ~exists().where(dl.c.leg_id == leg.c.leg_id),
        )
    )
    return conn.execute(insert(dl).from_select(
        ["leg_id", "req_id", "txn_id", "header_id", "bill_chg_id", "aggregated_sw", "action_cd", "status"], chosen
    )).rowcount


def process_transactions(conn: Connection) -> dict[str, int]:
    """C1-PDTXN: non-aggregated charges of the identified legs deleted or cancelled; the
    legs deleted with their calculation lines; their transactions back to staging ``UPLD``."""
    dl, c, leg = disagg_leg, bill_chg, txn_leg
    todo = dl.c.status == "P"

    def single(action: str):
        return select(dl.c.bill_chg_id).where(todo, dl.c.aggregated_sw == "N", dl.c.action_cd == action)

    deleted = conn.execute(delete(c).where(
        c.c.bill_chg_id.in_(single("DELETE")), ~exists().where(bill_segment.c.bill_chg_id == c.c.bill_chg_id)
    )).rowcount
    cancelled = conn.execute(update(c).where(c.c.bill_chg_id.in_(single("CANCEL")), c.c.status != "CANCELED")
                             .values(status="CANCELED")).rowcount
    identified = select(dl.c.leg_id).where(todo)
    drop_leg_lines(conn, identified.subquery())
    legs = conn.execute(delete(leg).where(leg.c.leg_id.in_(identified))).rowcount
    with scratch_table(conn, "pdtxn_txn", Column("txn_id", BigInteger, primary_key=True)) as txns:
        conn.execute(insert(txns).from_select(["txn_id"], select(dl.c.txn_id).where(todo).distinct()))
        analyze(conn, txns)
        in_detail = select(txns.c.txn_id).where(exists().where(txn_detail.c.txn_id == txns.c.txn_id))
        moved = move_detail_to_staged(conn, in_detail)
        bump_reprocess(conn, select(txns.c.txn_id))
    conn.execute(update(dl).where(todo).values(status="C"))
    return {"legs_deleted": legs, "single_charges_deleted": deleted, "single_charges_cancelled": cancelled,
            "transactions_to_staging": moved}


def clean_up_charges(conn: Connection) -> dict[str, int]:
    """C1-TXNCU (``DISAGG``): the identified aggregated charges deleted (``DELETE``: recomputed
    from what legs are left, deleted when none is) or cancelled (``CANCEL``); their
    calculation lines go either way."""
    dc, c = disagg_charge, bill_chg
    todo = dc.c.status == "P"
    totals = recompute_aggregated_charges(conn, select(dc.c.bill_chg_id).where(todo, dc.c.action_cd == "DELETE"))
    cancelled = conn.execute(update(c).where(
        c.c.bill_chg_id.in_(select(dc.c.bill_chg_id).where(todo, dc.c.action_cd == "CANCEL")),
        c.c.status != "CANCELED",
    ).values(status="CANCELED")).rowcount
    conn.execute(delete(txn_calc_line).where(txn_calc_line.c.calc_line_id.in_(
        select(charge_line_id(dc.c.bill_chg_id)).where(todo, dc.c.action_cd != "DELETE"))))
    conn.execute(update(dc).where(todo).values(status="C"))
    return {"aggregated_deleted": totals["deleted"], "aggregated_recomputed": totals["recomputed"],
            "aggregated_cancelled": cancelled}


def complete_requests(conn: Connection) -> int:
    """C1-DARSU: pending requests with nothing left to process are ``COMPLETE``."""
    r = disagg_req
    left = [exists().where(t.c.req_id == r.c.req_id, t.c.status == "P") for t in (disagg_leg, disagg_charge)]
    return conn.execute(update(r).where(r.c.status == "PENDING", ~left[0], ~left[1])
                        .values(status="COMPLETE")).rowcount

"""DoInvoicing: the bills of the accounts whose bill cycle closes on the day (DESIGN §7).

An account — whatever its status: a closed account still gets its final bill — is billed on
day D when its bill cycle's ``close_day`` is D's day of the month: ``bill_dt`` = D,
``window_end`` = D − 1 day, ``window_start`` = the same day a month earlier. Each
``BILLABLE`` charge of the account that ends by ``window_end`` and is on no bill yet gets one
``FREEZABLE`` segment (late charges of earlier windows are caught by the next bill); no
segment, no bill. A ``DNRT`` charge is rated now (:func:`billing.rating.rate_charge`); a
charge in another currency is converted at the rate effective on the bill date, rounded
half-up to the account currency's minor units per segment. Tax is the account's ``tax_cd``
rate in effect on the bill date, rounded once per bill.

A segment that cannot be valued (no exchange rate, a ``DNRT`` charge whose pricing cannot
rate it) is ``ERROR`` with the reason; its bill stays ``PENDING`` and is not finalized until
the day is run again after the fix, which bills that account afresh. Otherwise re-running a
day bills nobody twice: an account that has a bill dated D is skipped.
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    Select,
    String,
    Text,
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
from billing.db.calendar import add_days
from billing.db.engine import allocate_ids, insert_numbered
from billing.db.money import Money, dadd, ddiv, dmul, dround, dsum
from billing.db.schema import (
    accounts,
    bill,
    bill_chg,
    bill_cycles,
    bill_segment,
    currencies,
    pricing,
    tax_rates,
)
from billing.db.scratch import scratch_table
from billing.rating import rate_charge
from billing.reference.rates import conversion_rate, latest_effective

DEFAULT_PAYMENT_TERMS_DAYS = 30


@dataclass(frozen=True)
class BillWindow:
    bill_dt: date
    start: date
    end: date


def bill_window(day: date) -> BillWindow:
    """The window a bill dated ``day`` covers: from the same day a month earlier to the day
    before (bill cycles close on days 1–28, so the earlier day always exists)."""
    year, month = (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)
    start = day.replace(year=year, month=month, day=min(day.day, monthrange(year, month)[1]))
    return BillWindow(day, start, day - timedelta(days=1))


def create_bills(conn: Connection, day: date, account_ids: Select | None = None) -> dict[str, int]:
    """Bill every account due on ``day`` (or only those of ``account_ids``) and return counts."""
    allocate_ids(conn, "bill_chg_id", 0)  # no aggregated charge grows while it is being billed
    window = bill_window(day)
    rebuilt = _drop_bills_in_error(conn, day)
    a = accounts
    due = (
        select(a.c.account_id)
        .join(bill_cycles, bill_cycles.c.bill_cycle_cd == a.c.bill_cycle_cd)
        .where(bill_cycles.c.close_day == day.day,
               ~exists().where(bill.c.account_id == a.c.account_id, bill.c.bill_dt == day))
    )
    if account_ids is not None:
        due = due.where(a.c.account_id.in_(account_ids))
    with scratch_table(
        conn, "doinv_segments",
        Column("bill_chg_id", BigInteger, primary_key=True),
        Column("account_id", String(64)),
        Column("charge_amount", Money()),
        Column("charge_currency_cd", String(3)),
        Column("exchange_rate", Money()),
        Column("minor_units", Integer),
        Column("amount", Money()),
        Column("message", Text),
    ) as segments, scratch_table(
        conn, "doinv_bills",
        Column("bill_id", BigInteger),
        Column("account_id", String(64), primary_key=True),
        Column("division_cd", String(40)),
        Column("currency_cd", String(3)),
        Column("minor_units", Integer),
        Column("tax_cd", String(40)),
        Column("tax_rate_percent", Money()),
        Column("payment_terms_days", Integer),
        Column("subtotal", Money()),
        Column("tax_amount", Money()),
    ) as bills:
        _value_segments(conn, day, window, due, segments)
        analyze(conn, segments)
        _sum_bills(conn, day, segments, bills)
        created = _write_bills(conn, window, bills, segments)
    analyze(conn, bill)
    analyze(conn, bill_segment)
    return {**created, "bills_rebuilt": rebuilt}


def _drop_bills_in_error(conn: Connection, day: date) -> int:
    """The day's pending bills held by an ERROR segment are dropped, so that running the day
    again (once the rate or pricing is fixed) bills those accounts afresh. Being pending,
    they have no invoice number and no document yet."""
    held = select(bill.c.bill_id).where(
        bill.c.bill_dt == day, bill.c.status == "PENDING",
        exists().where(bill_segment.c.bill_id == bill.c.bill_id, bill_segment.c.status == "ERROR"),
    )
    conn.execute(delete(bill_segment).where(bill_segment.c.bill_id.in_(held)))
    return conn.execute(delete(bill).where(bill.c.bill_dt == day, bill.c.status == "PENDING",
                                           ~exists().where(bill_segment.c.bill_id == bill.c.bill_id))).rowcount


def _value_segments(conn: Connection, day: date, window: BillWindow, due: Select, segments) -> None:
    """The charges to bill, each valued in its account's currency (or with the reason why not)."""
    c, a = bill_chg, accounts
    charge_currency, account_currency = currencies.alias("charge_currency"), currencies.alias("account_currency")
    amount_now = case(
        (c.c.rating_criteria == "DNRT", rate_charge(c, pricing, charge_currency.c.minor_units)),
        else_=c.c.charge_amount,
    )
    rate = conversion_rate(c.c.currency_cd, a.c.currency_cd, day)
    chosen = (
        select(c.c.bill_chg_id, c.c.account_id, amount_now, c.c.currency_cd, rate, account_currency.c.minor_units)
        .select_from(
            c.join(a, a.c.account_id == c.c.account_id)
            .join(account_currency, account_currency.c.currency_cd == a.c.currency_cd)
            .outerjoin(charge_currency, charge_currency.c.currency_cd == c.c.currency_cd)
            .outerjoin(pricing, pricing.c.price_assignment_id == c.c.price_assignment_id)
        )
        .where(
            c.c.account_id.in_(due),
            c.c.status == "BILLABLE",
            c.c.end_dt <= window.end,
            ~exists().where(bill_segment.c.bill_chg_id == c.c.bill_chg_id),
        )
    )
    conn.execute(insert(segments).from_select(
        ["bill_chg_id", "account_id", "charge_amount", "charge_currency_cd", "exchange_rate", "minor_units"], chosen))
    s = segments
    conn.execute(update(s).values(
        amount=dround(dmul(s.c.charge_amount, s.c.exchange_rate), s.c.minor_units),
        message=case(
            (s.c.charge_amount.is_(None),
             literal("charge ") + cast(s.c.bill_chg_id, String)
             + literal(" has no amount and its price assignment cannot rate it: fix the pricing, then run the "
                       "close of day of ") + literal(day.isoformat()) + literal(" again")),
            (s.c.exchange_rate.is_(None),
             literal("no exchange rate from ") + s.c.charge_currency_cd + literal(" to the account currency effective "
                                                                                   "on ") + literal(day.isoformat())
             + literal(": load one, then run the close of day of ") + literal(day.isoformat()) + literal(" again")),
        ),
    ))


def _sum_bills(conn: Connection, day: date, segments, bills) -> None:
    """One bill per account with segments: its subtotal, tax rate and tax."""
    a, cur, t, s = accounts, currencies, tax_rates, segments
    sums = (
        select(s.c.account_id, dsum(s.c.amount).label("subtotal"))
        .group_by(s.c.account_id)
        .subquery()
    )
    rows = select(
        a.c.account_id, a.c.division_cd, a.c.currency_cd, cur.c.minor_units, a.c.tax_cd,
        latest_effective(t.c.rate_percent, t.c.tax_cd == a.c.tax_cd, day).label("tax_rate_percent"),
        func.coalesce(a.c.payment_terms_days, DEFAULT_PAYMENT_TERMS_DAYS).label("payment_terms_days"),
        func.coalesce(sums.c.subtotal, literal(0)).label("subtotal"),
    ).select_from(sums.join(a, a.c.account_id == sums.c.account_id).join(cur, cur.c.currency_cd == a.c.currency_cd))
    insert_numbered(conn, bills, "bill_id", rows, order_by=("account_id",))
    b = bills
    conn.execute(update(b).values(tax_amount=dround(
        ddiv(dmul(b.c.subtotal, func.coalesce(b.c.tax_rate_percent, literal(0))), literal(100)), b.c.minor_units)))


def _write_bills(conn: Connection, window: BillWindow, bills, segments) -> dict[str, int]:
    b, s = bills, segments
    bill_id = cast(b.c.bill_id, String)
    written = conn.execute(insert(bill).from_select(
        ["bill_id", "account_id", "bill_dt", "window_start", "window_end", "status", "due_dt", "subtotal",
         "tax_amount", "total_amount", "division_cd", "currency_cd", "tax_cd", "tax_rate_percent"],
        select(bill_id, b.c.account_id, literal(window.bill_dt), literal(window.start), literal(window.end),
               literal("PENDING"), add_days(literal(window.bill_dt), b.c.payment_terms_days), b.c.subtotal,
               b.c.tax_amount, dadd(b.c.subtotal, b.c.tax_amount), b.c.division_cd, b.c.currency_cd, b.c.tax_cd,
               b.c.tax_rate_percent),
    )).rowcount
    in_error = s.c.amount.is_(None)
    conn.execute(insert(bill_segment).from_select(
        ["bseg_id", "bill_id", "bill_chg_id", "status", "amount", "charge_amount", "charge_currency_cd",
         "exchange_rate", "message"],
        select(bill_id + literal("-") + cast(s.c.bill_chg_id, String), bill_id, s.c.bill_chg_id,
               case((in_error, "ERROR"), else_="FREEZABLE"), s.c.amount, s.c.charge_amount, s.c.charge_currency_cd,
               s.c.exchange_rate, s.c.message)
        .select_from(s.join(b, b.c.account_id == s.c.account_id)),
    ))
    errors = conn.execute(select(func.count()).where(in_error)).scalar()
    segment_count = conn.execute(select(func.count()).select_from(s)).scalar()
    if errors:
        conn.execute(update(bill).where(
            bill.c.bill_dt == window.bill_dt,
            bill.c.status == "PENDING",
            exists().where(bill_segment.c.bill_id == bill.c.bill_id, bill_segment.c.status == "ERROR"),
        ).values(message="segments in ERROR (see bill_segment.message): the bill stays PENDING, it is not "
                         "finalized until they are fixed"))
    return {"bills_created": written, "segments": segment_count, "segments_in_error": errors}

"""Update status (C1-TXNEX): each pending leg of the feed is checked against its pricing.

Errors are checked before the ignore flag, in this order, the first one found being the
leg's ``error_code``: no or ambiguous pricing (from C1-TXNVP), the contract rule of the
price item, the aggregation period, the exchange rate. Legs without error get their
quantities (volume, amount converted to the pricing currency, the SQI of the pricing's
basis) and, for ``RITX`` and ``RITA`` pricing, their own rated amount; ignored pricing
makes them ``IGNR``. A transaction with an ``EROR`` leg is ``EROR``; one whose legs are all
``IGNR`` is ``IGNR``; both join the rollback list with their reasons.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    String,
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)

from billing.db.money import dmul, dround
from billing.db.schema import (
    aggregation_periods,
    contracts,
    currencies,
    exchange_rates,
    price_items,
    pricing,
    txn_detail,
    txn_detail_excp,
    txn_leg,
    txn_summary,
)
from billing.db.scratch import scratch_table
from billing.rating import SUPPORTED_RATE_TYPES, rate
from billing.tfm.exceptions import add_to_rollback_list, mark_in_error, record_exceptions

LIVE_CONTRACT_STATUSES = ("ACTIVE", "PENDING_STOP", "STOPPED")
REFERENCE_HINT = "; fix the reference data, then roll back EROR transactions to re-process them"


def update_leg_statuses(conn: Connection, header_id: str) -> dict[str, int]:
    leg = txn_leg
    with scratch_table(conn, "txnex_legs", Column("leg_id", BigInteger, primary_key=True)) as batch:
        conn.execute(
            insert(batch).from_select(
                ["leg_id"],
                select(leg.c.leg_id).where(
                    leg.c.header_id == header_id, leg.c.status == "INPD", leg.c.price_assignment_id.is_(None),
                    leg.c.error_code.is_(None),
                ),
            )
        )
        pending = leg.c.leg_id.in_(select(batch.c.leg_id))
        live = and_(pending, leg.c.status == "INPD")
        _apply_summary_pricing(conn, pending)
        _check_contracts(conn, live)
        _check_aggregation_period(conn, live)
        _check_exchange_rate(conn, live)
        _compute_quantities(conn, live)
        conn.execute(update(leg).where(live, leg.c.ignore_sw == "Y").values(status="IGNR"))
        _record_leg_errors(conn, header_id, pending)
    mark_in_error(conn, header_id, "One or more legs are in EROR: ")
    _mark_ignored(conn, header_id)
    rows = conn.execute(
        select(leg.c.status, func.count()).where(leg.c.header_id == header_id).group_by(leg.c.status)
    ).all()
    return dict(rows)


def _error(code: str):
    return {"status": "EROR", "error_code": code}


def _apply_summary_pricing(conn: Connection, pending) -> None:
    leg, s, p = txn_leg, txn_summary, pricing
    conn.execute(
        update(leg)
        .where(pending, s.c.summary_id == leg.c.summary_id)
        .values(
            price_assignment_id=s.c.price_assignment_id,
            status=case((s.c.status == "E", "EROR"), else_=leg.c.status),
            error_code=s.c.error_code,
        )
    )
    conn.execute(
        update(leg)
        .where(pending, leg.c.status == "INPD", p.c.price_assignment_id == leg.c.price_assignment_id)
        .values(
            rating_criteria=p.c.rating_criteria,
            aggregate_sw=p.c.aggregate_txn,
            ignore_sw=p.c.ignore_txn,
            pricing_currency_cd=p.c.currency_cd,
            status=case((p.c.rate_type.in_(SUPPORTED_RATE_TYPES), "INPD"), else_="EROR"),
            error_code=case((p.c.rate_type.in_(SUPPORTED_RATE_TYPES), None), else_="RATE_TYPE_NOT_SUPPORTED"),
        )
    )


def _check_contracts(conn: Connection, live) -> None:
    leg, c, pi = txn_leg, contracts, price_items
    covering = and_(
        c.c.account_id == leg.c.account_id,
        c.c.contract_type == pi.c.contract_type,
        c.c.start_dt <= leg.c.txn_dt,
        c.c.end_dt.is_(None) | (c.c.end_dt >= leg.c.txn_dt),
    )
    live_count = select(func.count()).where(covering, c.c.status.in_(LIVE_CONTRACT_STATUSES)).scalar_subquery()
    any_count = select(func.count()).where(covering).scalar_subquery()
    code = case(
        (any_count == 0, "NO_CONTRACT"),
        (live_count == 0, "CONTRACT_INACTIVE"),
        (live_count > 1, "MULTIPLE_CONTRACTS"),
    )
    conn.execute(
        update(leg)
        .where(live, pi.c.price_item_cd == leg.c.price_item_cd, pi.c.contract_type.is_not(None), live_count != 1)
        .values(status="EROR", error_code=code)
    )


def _check_aggregation_period(conn: Connection, live) -> None:
    leg, p, ap = txn_leg, pricing, aggregation_periods
    conn.execute(
        update(leg)
        .where(
            live,
            leg.c.aggregate_sw == "Y",
            p.c.price_assignment_id == leg.c.price_assignment_id,
            ap.c.schedule_cd == p.c.aggregation_schedule_cd,
            ap.c.period_start <= leg.c.txn_dt,
            ap.c.period_end >= leg.c.txn_dt,
        )
        .values(agg_period_start=ap.c.period_start, agg_period_end=ap.c.period_end)
    )
    conn.execute(
        update(leg)
        .where(live, leg.c.aggregate_sw == "Y", leg.c.agg_period_start.is_(None))
        .values(**_error("NO_AGGREGATION_PERIOD"))
    )


def _check_exchange_rate(conn: Connection, live) -> None:
    leg, d, x = txn_leg, txn_detail, exchange_rates
    latest_rate = (
        select(x.c.rate)
        .where(
            x.c.from_currency_cd == d.c.currency,
            x.c.to_currency_cd == leg.c.pricing_currency_cd,
            x.c.effective_dt <= leg.c.processing_dt,
        )
        .order_by(x.c.effective_dt.desc())
        .limit(1)
        .scalar_subquery()
    )
    conn.execute(
        update(leg)
        .where(live, d.c.txn_id == leg.c.txn_id)
        .values(exchange_rate=case((d.c.currency == leg.c.pricing_currency_cd, literal(1)), else_=latest_rate))
    )
    conn.execute(update(leg).where(live, leg.c.exchange_rate.is_(None)).values(**_error("NO_EXCHANGE_RATE")))


def _compute_quantities(conn: Connection, live) -> None:
    leg, d, p, cur = txn_leg, txn_detail, pricing, currencies
    converted = dround(dmul(d.c.amount, leg.c.exchange_rate), cur.c.minor_units)
    quantity = case(
        (p.c.sqi_basis == "TXN_COUNT", literal(1)),
        (p.c.sqi_basis == "TXN_VOLUME", d.c.volume),
        else_=converted,
    )
    conn.execute(
        update(leg)
        .where(
            live,
            d.c.txn_id == leg.c.txn_id,
            p.c.price_assignment_id == leg.c.price_assignment_id,
            cur.c.currency_cd == leg.c.pricing_currency_cd,
        )
        .values(sqi_volume=d.c.volume, sqi_amount=converted, sqi_quantity=quantity)
    )
    conn.execute(
        update(leg)
        .where(
            live,
            leg.c.rating_criteria.in_(("RITX", "RITA")),
            p.c.price_assignment_id == leg.c.price_assignment_id,
            cur.c.currency_cd == leg.c.pricing_currency_cd,
        )
        .values(calc_amount=rate(leg.c.sqi_quantity, p, cur.c.minor_units))
    )


_LEG_MESSAGES = {
    "NO_PRICING": "no effective pricing on the processing date",
    "AMBIGUOUS_PRICING": "more than one price assignment applies (ambiguous pricing)",
    "RATE_TYPE_NOT_SUPPORTED": "its price assignment's rate type is not supported yet",
    "NO_CONTRACT": "the account has no contract of the price item's contract type on the transaction date",
    "CONTRACT_INACTIVE": "the account's only contracts of the price item's contract type are INACTIVE",
    "MULTIPLE_CONTRACTS": "the account has more than one live contract of the price item's contract type",
    "NO_AGGREGATION_PERIOD": "the aggregation schedule has no period containing the transaction date",
    "NO_EXCHANGE_RATE": "no exchange rate from the transaction currency to the pricing currency "
    "effective on the processing date",
}


def _record_leg_errors(conn: Connection, header_id: str, pending) -> None:
    leg = txn_leg
    reason = case(*((leg.c.error_code == code, text) for code, text in _LEG_MESSAGES.items()))
    message = (
        literal("leg ") + func.cast(leg.c.leg_seq, String) + literal(" (account ") + leg.c.account_id
        + literal(", price item ") + leg.c.price_item_cd + literal(", param '") + leg.c.param_value
        + literal("', processing date ") + func.cast(leg.c.processing_dt, String) + literal("): ")
        + reason + literal(REFERENCE_HINT)
    )
    record_exceptions(
        conn, leg, leg.c.txn_id, header_id, leg.c.error_code, message,
        and_(pending, leg.c.status == "EROR"), leg_id=leg.c.leg_id,
    )


def _mark_ignored(conn: Connection, header_id: str) -> None:
    """``INPD`` transactions whose legs are all ``IGNR`` become ``IGNR``."""
    d, leg, e = txn_detail, txn_leg, txn_detail_excp
    conn.execute(
        update(d)
        .where(
            d.c.header_id == header_id,
            d.c.status == "INPD",
            exists().where(leg.c.txn_id == d.c.txn_id),
            ~exists().where(leg.c.txn_id == d.c.txn_id, leg.c.status != "IGNR"),
        )
        .values(status="IGNR", message="every leg is ignored by its pricing (ignore_txn = Y)")
    )
    ignored_legs = and_(
        leg.c.header_id == header_id,
        leg.c.status == "IGNR",
        exists().where(d.c.txn_id == leg.c.txn_id, d.c.status == "IGNR"),
        ~exists().where(e.c.txn_id == leg.c.txn_id, e.c.leg_id == leg.c.leg_id),
    )
    record_exceptions(
        conn, leg, leg.c.txn_id, header_id, "IGNORED",
        literal("leg ") + func.cast(leg.c.leg_seq, String) + literal(" ignored by price assignment ")
        + leg.c.price_assignment_id,
        ignored_legs, leg_id=leg.c.leg_id,
    )
    add_to_rollback_list(conn, header_id, "IGNR")

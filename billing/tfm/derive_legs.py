"""Validate transactions and derive legs (C1-TXNIP).

Staged transactions of the validated feeds (one, or a batched run's) dated on or before the business date move to
``txn_detail``: malformed ones ``INVL``; those with a recoverable problem ``EROR`` with one
``txn_detail_excp`` row per reason and a rollback entry; the rest ``INPD`` with one leg per
``rule_legs`` row of their derivation rule. Later-dated transactions wait in staging.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Date,
    Index,
    Integer,
    String,
    and_,
    case,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)

from billing.db.bulk import analyze
from billing.db.schema import (
    LEG_ID_TXN_FACTOR,
    accounts,
    currencies,
    derivation_rules,
    divisions,
    rule_legs,
    txn_detail,
    txn_detail_stg,
    txn_header,
    txn_leg,
)
from billing.db.scratch import scratch_table
from billing.tfm.exceptions import ROLLBACK_HINT, mark_in_error, record_exceptions
from billing.tfm.moves import move_staged_to_detail


# What a leg holds when it is derived; the later steps fill in the rest.
DERIVED_LEG_COLUMNS = ("leg_id", "txn_id", "header_id", "leg_seq", "account_id", "price_item_cd", "param_value",
                       "txn_dt", "processing_dt", "status")


@dataclass(frozen=True)
class DerivationResult:
    moved: int
    invalid: int
    errors: int
    derived: int
    legs: int
    waiting: int


def validate_and_derive(conn: Connection, header_ids: Sequence[str], business_dt: date) -> DerivationResult:
    h = txn_header
    feeds = conn.execute(select(h.c.header_id).where(h.c.header_id.in_(header_ids), h.c.status == "VALI")).scalars().all()
    if not feeds:
        return DerivationResult(0, 0, 0, 0, 0, 0)
    stg = txn_detail_stg
    due = and_(stg.c.header_id.in_(feeds), or_(stg.c.txn_dt.is_(None), stg.c.txn_dt <= business_dt))
    with scratch_table(
        conn, "txnip_batch", Column("txn_id", BigInteger, primary_key=True), Column("header_id", String(120)),
        Column("repeats_row", Integer),
    ) as batch, scratch_table(
        conn,
        "txnip_described",
        Column("txn_id", BigInteger, primary_key=True),
        Column("header_id", String(120)),
        Column("account_id", String(64)),
        Column("txn_dt", Date),
        Column("processing_dt", Date),
        Column("currency", String(40)),
        Column("rule_id", String(64)),
    ) as described:
        moved = conn.execute(insert(batch).from_select(["txn_id", "header_id"],
                                                       select(stg.c.txn_id, stg.c.header_id).where(due))).rowcount
        _find_repeats(conn, batch, feeds)
        analyze(conn, batch)
        _move_with_validity(conn, batch, due, business_dt)
        analyze(conn, txn_detail)
        valid = _describe(conn, batch, described, business_dt)
        # Analyzed once it holds accounts and rules: without statistics the problem checks and
        # the legs' INSERT joined accounts for "one" row, in nested loops over 200,000.
        analyze(conn, described)
        errors = _record_problems(conn, described, feeds)
        legs = _derive(conn, described)
        analyze(conn, txn_leg)
    invalid = moved - valid
    waiting = conn.execute(select(func.count()).select_from(stg).where(stg.c.header_id.in_(feeds))).scalar()
    return DerivationResult(moved, invalid, errors, moved - invalid - errors, legs, waiting)


def _find_repeats(conn: Connection, batch, feeds: Sequence[str]) -> None:
    """Mark batch rows whose external_txn_id an earlier row of the same feed (staged or moved
    already) carries, with that first row's number — one window pass over the feeds."""
    stg, d = txn_detail_stg, txn_detail
    ids = union_all(
        select(stg.c.txn_id, stg.c.header_id, stg.c.external_txn_id, stg.c.row_no).where(stg.c.header_id.in_(feeds)),
        select(d.c.txn_id, d.c.header_id, d.c.external_txn_id, d.c.row_no).where(d.c.header_id.in_(feeds)),
    ).subquery()
    ranked = (
        select(ids.c.txn_id, ids.c.row_no,
               func.min(ids.c.row_no).over(partition_by=[ids.c.header_id, ids.c.external_txn_id]).label("first_row"))
        .where(ids.c.external_txn_id.is_not(None))
        .subquery()
    )
    conn.execute(
        update(batch)
        .where(batch.c.txn_id == ranked.c.txn_id, ranked.c.row_no > ranked.c.first_row)
        .values(repeats_row=ranked.c.first_row)
    )


def _move_with_validity(conn: Connection, batch, due, business_dt: date) -> None:
    """Move due rows to ``txn_detail``: ``INVL`` when malformed or repeated, else ``INPD``."""
    stg = txn_detail_stg
    first_row = select(batch.c.repeats_row).where(batch.c.txn_id == stg.c.txn_id).scalar_subquery()
    repeated = first_row.is_not(None)
    row_text = literal("row ") + func.cast(stg.c.row_no, String)
    status = case((stg.c.parse_error.is_not(None), "INVL"), (repeated, "INVL"), else_="INPD")
    message = case(
        (stg.c.parse_error.is_not(None), row_text + literal(": ") + stg.c.parse_error + literal(" — correct and resubmit")),
        (repeated, row_text + literal(": external_txn_id ") + stg.c.external_txn_id
         + literal(" repeats row ") + func.cast(first_row, String) + literal(" of the feed")),
        else_=null(),
    )
    move_staged_to_detail(conn, due, status=status, message=message, business_dt=business_dt)


def _describe(conn: Connection, batch, described, business_dt: date) -> int:
    """The batch's transactions moved ``INPD``, with their facts — account, dates, currency and
    the winning derivation rule of the feed's division and source — into ``described`` (one
    INSERT: a fresh table, not an update of the batch). The rule depends only on the feed,
    product code, channel and date — some hundreds of keys for 200,000 transactions — so it
    is chosen once per key in a scratch table, which the transactions then join."""
    d, h = txn_detail, txn_header
    inpd = and_(d.c.txn_id == batch.c.txn_id, d.c.status == "INPD")
    with scratch_table(
        conn, "txnip_rules", *(Column(name, d.c[name].type) for name in ("header_id", "product_code", "channel",
                                                                          "txn_dt")),
        Column("rule_id", derivation_rules.c.rule_id.type),
        Index("ix_txnip_rules_key", "header_id", "txn_dt"),  # SQLite joins through it
    ) as rules:
        keys = (select(d.c.header_id, d.c.product_code, d.c.channel, d.c.txn_dt)
                .select_from(batch.join(d, inpd)).distinct().subquery("keys"))
        conn.execute(insert(rules).from_select(
            ["header_id", "product_code", "channel", "txn_dt", "rule_id"],
            select(*keys.c, _chosen_rule(h, keys)).select_from(keys.join(h, h.c.header_id == keys.c.header_id)),
        ))
        analyze(conn, rules)
        # An empty cell is staged as NULL, never '', so '' can stand for NULL in the join.
        same_key = and_(rules.c.header_id == d.c.header_id, rules.c.txn_dt == d.c.txn_dt,
                        *(func.coalesce(rules.c[name], "") == func.coalesce(d.c[name], "")
                          for name in ("product_code", "channel")))
        processing_dt = case((divisions.c.processing_date_basis == "BUSINESS_DATE", literal(business_dt, Date())),
                             else_=d.c.txn_dt)
        facts = (
            select(d.c.txn_id, d.c.header_id, d.c.account_id, d.c.txn_dt, processing_dt, d.c.currency, rules.c.rule_id)
            .select_from(batch.join(d, inpd).join(h, h.c.header_id == d.c.header_id)
                         .outerjoin(divisions, divisions.c.division_cd == h.c.division_cd).outerjoin(rules, same_key))
        )
        return conn.execute(insert(described).from_select(
            ["txn_id", "header_id", "account_id", "txn_dt", "processing_dt", "currency", "rule_id"], facts
        )).rowcount


def _chosen_rule(h, keys) -> ColumnElement:
    """The rule of the feed's division and source matching the key's product code, channel
    and date that comes first by priority (then id), among those with legs."""
    rule = derivation_rules
    return (
        select(rule.c.rule_id)
        .where(
            rule.c.division_cd == h.c.division_cd,
            or_(rule.c.txn_source.is_(None), rule.c.txn_source == h.c.txn_source_cd),
            or_(rule.c.product_code.is_(None), rule.c.product_code == keys.c.product_code),
            or_(rule.c.channel.is_(None), rule.c.channel == keys.c.channel),
            rule.c.start_dt <= keys.c.txn_dt,
            or_(rule.c.end_dt.is_(None), rule.c.end_dt >= keys.c.txn_dt),
            exists().where(rule_legs.c.rule_id == rule.c.rule_id),
        )
        .order_by(rule.c.priority, rule.c.rule_id)
        .limit(1)
        .scalar_subquery()
    )


def _record_problems(conn: Connection, batch, feeds: Sequence[str]) -> int:
    """One exception row per recoverable problem; the transactions concerned become ``EROR``."""
    a, h = accounts, txn_header
    parent = accounts.alias("parent")
    acct = literal("account ") + batch.c.account_id
    problems = [
        ("ACCOUNT_UNKNOWN", a.c.account_id.is_(None), acct + literal(" is unknown")),
        (
            "ACCOUNT_OTHER_DIVISION",
            a.c.division_cd != h.c.division_cd,
            acct + literal(" belongs to division ") + a.c.division_cd
            + literal(", not to the feed's division ") + h.c.division_cd,
        ),
        ("ACCOUNT_CLOSED", a.c.status == "CLOSED", acct + literal(" is CLOSED")),
        (
            "ACCOUNT_NOT_EFFECTIVE",
            or_(batch.c.txn_dt < a.c.start_dt, and_(a.c.end_dt.is_not(None), batch.c.txn_dt > a.c.end_dt)),
            acct + literal(" is not effective on ") + func.cast(batch.c.txn_dt, String)
            + literal(" (start ") + func.cast(a.c.start_dt, String)
            + literal(", end ") + func.coalesce(func.cast(a.c.end_dt, String), literal("none")) + literal(")"),
        ),
        (
            "CURRENCY_UNKNOWN",
            ~exists().where(currencies.c.currency_cd == batch.c.currency),
            literal("currency ") + batch.c.currency + literal(" is not in currencies.csv"),
        ),
        (
            "NO_DERIVATION_RULE",
            batch.c.rule_id.is_(None),
            literal("no derivation rule of division ") + h.c.division_cd + literal(" matches the transaction's source ")
            + h.c.txn_source_cd + literal(", product code and channel on its date"),
        ),
        (
            "PARENT_ACCOUNT_MISSING",
            and_(
                a.c.account_id.is_not(None),
                exists().where(rule_legs.c.rule_id == batch.c.rule_id, rule_legs.c.account_basis == "PARENT_ACCOUNT"),
                ~exists().where(parent.c.account_id == a.c.parent_account_id),
            ),
            literal("rule ") + batch.c.rule_id + literal(" bills the parent account, but ") + acct
            + literal(" has no parent account"),
        ),
    ]
    source = batch.join(h, h.c.header_id == batch.c.header_id).outerjoin(a, a.c.account_id == batch.c.account_id)
    for code, condition, message in problems:
        record_exceptions(
            conn,
            source,
            batch.c.txn_id,
            batch.c.header_id,
            code,
            message + literal(ROLLBACK_HINT),
            condition,
        )
    return mark_in_error(conn, feeds, "Transaction is in EROR: ")


def _derive(conn: Connection, batch) -> int:
    """One ``INPD`` leg per rule leg of each transaction still ``INPD`` — but for the legs a
    rollback or a partial disaggregation kept aside: those stay as they are (same leg id)."""
    d = txn_detail
    a = accounts
    rl = rule_legs
    account = case(
        (rl.c.account_basis == "PARENT_ACCOUNT", a.c.parent_account_id),
        (rl.c.account_basis == "FIXED", rl.c.fixed_account_id),
        else_=batch.c.account_id,
    )
    param = case(
        (rl.c.param_source == "channel", func.coalesce(d.c.channel, "")),
        (rl.c.param_source == "currency", func.coalesce(d.c.currency, "")),
        (rl.c.param_source == "product_code", func.coalesce(d.c.product_code, "")),
        else_="",
    )
    leg_id = batch.c.txn_id * LEG_ID_TXN_FACTOR + rl.c.leg_seq
    # Legs kept aside by a rollback or a disaggregation: the batch's few, hashed once (a
    # correlated NOT EXISTS made PostgreSQL probe per row, minutes for 200,000 transactions).
    kept = txn_leg.alias("kept")
    legs = (
        select(
            leg_id,
            batch.c.txn_id,
            batch.c.header_id,
            rl.c.leg_seq,
            account,
            rl.c.price_item_cd,
            param,
            batch.c.txn_dt,
            batch.c.processing_dt,
            literal("INPD"),
        )
        .select_from(
            batch.join(d, d.c.txn_id == batch.c.txn_id)
            .join(rl, rl.c.rule_id == batch.c.rule_id)
            .join(a, a.c.account_id == batch.c.account_id)
        )
        .where(d.c.status == "INPD", leg_id.not_in(select(kept.c.leg_id).where(kept.c.txn_id.in_(select(batch.c.txn_id)))))
    )
    return conn.execute(insert(txn_leg).from_select(DERIVED_LEG_COLUMNS, legs)).rowcount

"""Effective pricing: refresh (C1-TXNRP) and verification per summary (C1-TXNVP).

The refresh flattens the three pricing scopes onto accounts — ``ACCOUNT`` (rank 1),
``PERSON`` (rank 2), ``PRICE_LIST`` (rank 3: the account's price list, else its division's
default) — so verification is one join. Verification picks, among the rows effective on the
summary's processing date, those of the best rank, then a row with the summary's
param_value over a row with an empty one; more than one row left is ambiguous.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, case, delete, func, insert, literal, select, update

from billing.db.bulk import analyze
from billing.db.engine import allocate_ids
from billing.db.schema import (
    accounts,
    divisions,
    pricing,
    pricing_effective,
    pricing_effective_build,
    reference_load,
    txn_summary,
)

SCOPE_RANKS = {"ACCOUNT": 1, "PERSON": 2, "PRICE_LIST": 3}


def refresh_effective_pricing(conn: Connection) -> dict[str, int]:
    """Rebuild ``pricing_effective`` from the reference tables; return rows per scope."""
    allocate_ids(conn, "pricing_refresh", 0)
    conn.execute(delete(pricing_effective))
    a, p = accounts, pricing
    price_list = func.coalesce(a.c.price_list_cd, divisions.c.default_price_list_cd)
    scope_keys = {"ACCOUNT": a.c.account_id, "PERSON": a.c.person_id, "PRICE_LIST": price_list}
    counts = {}
    for scope, key in scope_keys.items():
        rows = (
            select(a.c.account_id, p.c.price_item_cd, p.c.param_value, p.c.price_assignment_id,
                   literal(SCOPE_RANKS[scope]), p.c.start_dt, p.c.end_dt)
            .select_from(a.join(divisions, divisions.c.division_cd == a.c.division_cd))
            .join(p, (p.c.scope == scope) & (p.c.scope_id == key))
        )
        counts[scope] = conn.execute(
            insert(pricing_effective).from_select(
                ["account_id", "price_item_cd", "param_value", "price_assignment_id", "scope_rank", "start_dt", "end_dt"],
                rows,
            )
        ).rowcount
    latest_load = conn.execute(select(func.max(reference_load.c.load_id))).scalar()
    build_no = (conn.execute(select(func.max(pricing_effective_build.c.build_no))).scalar() or 0) + 1
    conn.execute(insert(pricing_effective_build).values(
        build_no=build_no, reference_load_id=latest_load, row_count=sum(counts.values())))
    return counts


def pricing_version(conn: Connection) -> int | None:
    """The reference data load the effective pricing was last built from: what legs priced
    now are priced by (C1-TXNEX stamps it on them; a disaggregation re-rates older ones)."""
    return conn.execute(
        select(pricing_effective_build.c.reference_load_id).order_by(pricing_effective_build.c.build_no.desc()).limit(1)
    ).scalar()


def effective_pricing_is_current(conn: Connection) -> bool:
    latest_load = conn.execute(select(func.max(reference_load.c.load_id))).scalar()
    built_from = pricing_version(conn)
    return built_from is not None and built_from == latest_load


def ensure_effective_pricing(conn: Connection) -> None:
    """Refresh the effective pricing unless it is built from the latest reference load."""
    if not effective_pricing_is_current(conn):
        allocate_ids(conn, "pricing_refresh", 0)  # one refresh at a time; the others wait, then see it
        if not effective_pricing_is_current(conn):
            refresh_effective_pricing(conn)


def verify_pricing(conn: Connection, header_ids: Sequence[str]) -> dict[str, int]:
    """Stamp each pending summary of the feeds with its price assignment, or an error code."""
    ensure_effective_pricing(conn)
    s, pe = txn_summary, pricing_effective
    candidates = (
        select(
            s.c.summary_id,
            pe.c.price_assignment_id,
            func.rank().over(
                partition_by=s.c.summary_id,
                order_by=[pe.c.scope_rank, case((pe.c.param_value.is_(None), 1), else_=0)],
            ).label("rank"),
        )
        .join(
            pe,
            (pe.c.account_id == s.c.account_id)
            & (pe.c.price_item_cd == s.c.price_item_cd)
            & (pe.c.start_dt <= s.c.processing_dt)
            & (pe.c.end_dt.is_(None) | (pe.c.end_dt >= s.c.processing_dt))
            & (pe.c.param_value.is_(None) | (pe.c.param_value == s.c.param_value)),
        )
        .where(s.c.header_id.in_(header_ids), s.c.status == "I")
        .subquery()
    )
    best = (
        select(
            candidates.c.summary_id,
            func.count(candidates.c.price_assignment_id.distinct()).label("n"),
            func.min(candidates.c.price_assignment_id).label("price_assignment_id"),
        )
        .where(candidates.c.rank == 1)
        .group_by(candidates.c.summary_id)
        .subquery()
    )
    conn.execute(
        update(s)
        .where(s.c.summary_id == best.c.summary_id)
        .values(
            status=case((best.c.n == 1, "V"), else_="E"),
            error_code=case((best.c.n == 1, None), else_="AMBIGUOUS_PRICING"),
            price_assignment_id=case((best.c.n == 1, best.c.price_assignment_id), else_=None),
        )
    )
    conn.execute(
        update(s).where(s.c.header_id.in_(header_ids), s.c.status == "I").values(status="E", error_code="NO_PRICING")
    )
    # The statistics still say every summary is ``I``: left so, C1-TXNSQ's join of the ``V``
    # summaries with the legs' charges was planned as a nested loop over one row (a minute
    # for 200,000 transactions on PostgreSQL).
    analyze(conn, s)
    rows = conn.execute(
        select(s.c.status, s.c.error_code, func.count()).where(s.c.header_id.in_(header_ids))
        .group_by(s.c.status, s.c.error_code)
    ).all()
    return {(code or {"V": "PRICED", "C": "CHARGED"}.get(status, status)): n for status, code, n in rows}

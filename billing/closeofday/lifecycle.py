"""The status steps of the close of day, in the seed's order (nightly_batch_closeofday):
UpdateTaxRates, OpenFutureStartdateServices, OpenDateToReOpenEntities, SuspendExpired… /
CloseSuspended… for accounts and services, SuspendExpiredServdefs and ClearDiscounts.

Each is one set-based ``UPDATE`` whose condition excludes what it has already done, so a
re-run of the day changes nothing. A status the close of day sets carries its reason and
day (``status_reason``, ``status_dt``): a suspension counts its days from there, and an
entity loaded as SUSPENDED by the reference data (no ``status_dt``) is never closed
automatically, since nobody knows since when it is suspended.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection, and_, case, delete, exists, insert, or_, select, update

from billing.closeofday.policy import CloseOfDayPolicy
from billing.closeofday.recurring import resume_billing
from billing.db.money import dsign, dsub
from billing.db.schema import accounts, service_definitions, services, tax_rate_in_effect, tax_rates


def update_tax_rates(conn: Connection, day: date) -> int:
    """UpdateTaxRates: each tax code's latest rate effective by ``day`` put in effect (again
    when a reload corrected it). Bills take the rate in effect on their bill date by the same
    rule, so a bill run of an earlier day stays right."""
    t, e = tax_rates, tax_rate_in_effect
    latest = t.alias("latest")
    newest = (
        select(t.c.tax_cd, t.c.effective_dt, t.c.rate_percent)
        .where(t.c.effective_dt <= day,
               ~exists().where(latest.c.tax_cd == t.c.tax_cd, latest.c.effective_dt > t.c.effective_dt,
                               latest.c.effective_dt <= day),
               ~exists().where(e.c.tax_cd == t.c.tax_cd, e.c.effective_dt == t.c.effective_dt,
                               dsign(dsub(e.c.rate_percent, t.c.rate_percent)) == 0))
    )
    changed = conn.execute(newest).all()
    if changed:
        conn.execute(delete(e).where(e.c.tax_cd.in_([row.tax_cd for row in changed])))
        conn.execute(insert(e), [{**row._asdict(), "applied_dt": day} for row in changed])
    return len(changed)


def _set_status(status: str, reason, day: date) -> dict:
    return {"status": status, "status_reason": reason, "status_dt": day}


def open_future_services(conn: Connection, day: date) -> dict[str, int]:
    """OpenFutureStartdateServices: PROSPECTIVE services whose start date has come are OPEN —
    unless their service definition stopped taking new services by then: those are CLOSED."""
    s, d = services, service_definitions
    starting = and_(s.c.status == "PROSPECTIVE", s.c.start_dt <= day)
    definition_ended = exists().where(d.c.service_cd == s.c.service_cd, d.c.end_dt.is_not(None),
                                      d.c.end_dt <= s.c.start_dt)
    refused = conn.execute(update(s).where(starting, definition_ended)
                           .values(**_set_status("CLOSED", "SERVICE_DEFINITION_ENDED", day))).rowcount
    opened = conn.execute(update(s).where(starting).values(**_set_status("OPEN", "FUTURE_START", day))).rowcount
    return {"OpenFutureStartdateServices": opened, "services_refused_definition_ended": refused}


def reopen_entities(conn: Connection, day: date) -> int:
    """OpenDateToReOpenEntities: SUSPENDED services whose reopen date has come are OPEN again
    (accounts.csv has no reopen date: an account is reopened by loading it OPEN)."""
    s = services
    return conn.execute(update(s).where(s.c.status == "SUSPENDED", s.c.reopen_dt <= day)
                        .values(reopen_dt=None, next_bill_dt=resume_billing(day),
                                **_set_status("OPEN", "REOPEN_DATE", day))).rowcount


def suspend_and_close(conn: Connection, day: date, close_after_days: int) -> dict[str, int]:
    """SuspendExpiredAccounts, CloseSuspendedAccounts, SuspendExpiredServices,
    CloseSuspendedServices: OPEN entities whose end date has come are SUSPENDED (the OPEN
    services of an account that is no longer OPEN with them); those suspended for
    ``close_after_days`` are CLOSED (the services of a CLOSED account with them)."""
    a, s = accounts, services
    closing_day = day - timedelta(days=close_after_days)
    counts = {
        "SuspendExpiredAccounts": conn.execute(
            update(a).where(a.c.status == "OPEN", a.c.end_dt <= day)
            .values(**_set_status("SUSPENDED", "EXPIRED", day))).rowcount,
        "CloseSuspendedAccounts": conn.execute(
            update(a).where(a.c.status == "SUSPENDED", a.c.status_dt <= closing_day)
            .values(**_set_status("CLOSED", "LONG_SUSPENDED", day))).rowcount,
    }
    account_of = select(a.c.status).where(a.c.account_id == s.c.account_id).scalar_subquery()
    expired = conn.execute(update(s).where(s.c.status == "OPEN", s.c.end_dt <= day)
                           .values(**_set_status("SUSPENDED", "EXPIRED", day))).rowcount
    with_account = conn.execute(update(s).where(s.c.status == "OPEN", account_of != "OPEN")
                                .values(**_set_status("SUSPENDED", "ACCOUNT_NOT_OPEN", day))).rowcount
    counts["SuspendExpiredServices"] = expired + with_account
    counts["CloseSuspendedServices"] = conn.execute(
        update(s).where(s.c.status != "CLOSED", or_(
            and_(s.c.status == "SUSPENDED", s.c.status_dt <= closing_day), account_of == "CLOSED"))
        .values(**_set_status("CLOSED", case((account_of == "CLOSED", "ACCOUNT_CLOSED"), else_="LONG_SUSPENDED"),
                              day))).rowcount
    return counts


def suspend_expired_definitions(conn: Connection, day: date) -> int:
    """SuspendExpiredServdefs: OPEN service definitions whose end date has come take no new
    services (NO_NEW); one whose end date a later load moved beyond the day is OPEN again."""
    d = service_definitions
    ended = conn.execute(update(d).where(d.c.status == "OPEN", d.c.end_dt <= day).values(status="NO_NEW")).rowcount
    conn.execute(update(d).where(d.c.status == "NO_NEW", or_(d.c.end_dt.is_(None), d.c.end_dt > day))
                 .values(status="OPEN"))
    return ended


def clear_discounts(conn: Connection, day: date) -> int:
    """ClearDiscounts: discounts whose expiry date has come are removed."""
    s = services
    return conn.execute(update(s).where(s.c.discount_expires_dt <= day)
                        .values(discount_percent=None, discount_expires_dt=None)).rowcount


def run_lifecycle(conn: Connection, day: date, policy: CloseOfDayPolicy) -> dict[str, int]:
    """The lifecycle steps in the seed's order; counts by seed function."""
    counts = open_future_services(conn, day)
    counts["OpenDateToReOpenEntities"] = reopen_entities(conn, day)
    counts.update(suspend_and_close(conn, day, policy.close_suspended_after_days))
    counts["SuspendExpiredServdefs"] = suspend_expired_definitions(conn, day)
    counts["ClearDiscounts"] = clear_discounts(conn, day)
    return counts

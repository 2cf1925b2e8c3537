"""The days closed so far — the seed's "systemstate closeofday date".

Days close in order, each once: day D may run when it is the first day ever closed, when
D − 1 is closed, or again when D itself is closed (a re-run, which changes nothing). The log
is in the billing database, so the rule holds whatever Dagster instance launches the run.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import Connection, func, insert, select

from billing.db.schema import bill, closeofday_log
from billing.errors import BillingError
from billing.invoicing.documents import documents_sent_on


class DayOutOfOrder(BillingError):
    """A close of day asked for a day whose previous day is not closed."""


def last_closed_day(conn: Connection) -> date | None:
    return conn.execute(select(func.max(closeofday_log.c.business_dt))).scalar()


def is_closed(conn: Connection, day: date) -> bool:
    return conn.execute(select(closeofday_log.c.business_dt).where(closeofday_log.c.business_dt == day)).first() \
        is not None


def check_in_order(conn: Connection, day: date) -> None:
    """Raise :class:`DayOutOfOrder`, saying what to run, unless ``day`` may close now."""
    last = last_closed_day(conn)
    if last is None or day == last + timedelta(days=1) or is_closed(conn, day):
        return
    if day > last:
        raise DayOutOfOrder(
            f"close of day {day} cannot run: the last day closed is {last}, so {last + timedelta(days=1)} "
            f"comes first. Run `billing closeofday --through {day}` to close the missing days in order."
        )
    raise DayOutOfOrder(
        f"close of day {day} cannot run: days close forward from the first day closed, and {last} is already "
        f"closed. Nothing was changed."
    )


def superseded(conn: Connection, day: date) -> bool:
    """True when ``day`` is closed and a later day too: the accounts have moved on, so running
    its steps again would put their statuses and balances back to that day. Such a re-run
    (a backfill over closed days, say) changes nothing."""
    last = last_closed_day(conn)
    return last is not None and day < last and is_closed(conn, day)


def days_to_close(conn: Connection, through: date, first: date | None = None) -> list[date]:
    """The missing days up to ``through``, in order; when none was ever closed, from ``first``
    (default: only ``through``)."""
    last = last_closed_day(conn)
    start = (first or through) if last is None else last + timedelta(days=1)
    return [start + timedelta(days=n) for n in range((through - start).days + 1)]


def record_closed(conn: Connection, day: date) -> dict[str, int]:
    """Log ``day`` as closed with what its close did (a re-run keeps the first entry)."""
    done = {
        "bills_created": conn.execute(select(func.count()).where(bill.c.bill_dt == day)).scalar(),
        "bills_completed": conn.execute(select(func.count()).where(bill.c.completed_dt == day)).scalar(),
        "documents_sent": documents_sent_on(conn, day),
    }
    if not is_closed(conn, day):
        conn.execute(insert(closeofday_log).values(business_dt=day, closed_at=datetime.now(timezone.utc), **done))
    return done

"""Circuit breakers (``error_handling.failure_thresholds``): when the runs a sensor launches
fail ``max_consecutive_failures`` times in a row, something is wrong that more runs will not
fix — a database down, a broken reference load — so the sensor stops launching until an
operator has looked and resets the breaker (``billing breaker reset feeds``). Only runs that
ended after the last reset count. While the breaker is open, it is reported again every
``circuit_breaker_timeout`` seconds.

Separately, a failure rate above ``failure_rate_threshold`` % over the last runs is a warning:
feeds fail more often than they should, though not all in a row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, select

from billing.db.schema import circuit_breaker
from billing.db.timestamps import as_utc
from billing.db.upsert import upsert
from billing.errors import BillingError

FEEDS = "feeds"
BREAKERS = {FEEDS: "the feed sensor (aggregation runs)"}
FAILURE_RATE_WINDOW = 20  # the last runs the failure rate is taken over …
FAILURE_RATE_MINIMUM = 10  # … once there are at least this many


@dataclass(frozen=True)
class BreakerState:
    name: str
    is_open: bool
    opened_at: datetime | None = None
    reason: str | None = None
    reset_at: datetime | None = None
    reset_by: str | None = None


def breaker_state(conn: Connection, name: str) -> BreakerState:
    found = conn.execute(select(circuit_breaker).where(circuit_breaker.c.name == name)).first()
    if found is None:
        return BreakerState(name, is_open=False)
    return BreakerState(name, found.state == "OPEN", as_utc(found.opened_at), found.reason, as_utc(found.reset_at),
                        found.reset_by)


def consecutive_failures(statuses_newest_first: list[str]) -> int:
    """How many of the latest runs failed, counting back to the last one that did not."""
    count = 0
    for status in statuses_newest_first:
        if status != "FAILURE":
            break
        count += 1
    return count


def failure_rate_pct(statuses_newest_first: list[str]) -> Decimal | None:
    """The share of failures among the last FAILURE_RATE_WINDOW runs (None below FAILURE_RATE_MINIMUM runs)."""
    window = statuses_newest_first[:FAILURE_RATE_WINDOW]
    if len(window) < FAILURE_RATE_MINIMUM:
        return None
    return (Decimal(window.count("FAILURE")) * 100 / len(window)).quantize(Decimal("0.01"))


def open_breaker(conn: Connection, name: str, reason: str, now: datetime) -> None:
    state = breaker_state(conn, name)
    upsert(conn, circuit_breaker, [{"name": name, "state": "OPEN", "opened_at": now, "reason": reason,
                                    "reset_at": state.reset_at, "reset_by": state.reset_by}])


def reset_breaker(conn: Connection, name: str, by: str, now: datetime) -> BreakerState:
    """Close the breaker: the sensor launches again, and only failures from now on count."""
    if name not in BREAKERS:
        raise BillingError(f"there is no circuit breaker '{name}'; the breakers are: {', '.join(BREAKERS)}")
    before = breaker_state(conn, name)
    upsert(conn, circuit_breaker, [{"name": name, "state": "CLOSED", "opened_at": before.opened_at,
                                    "reason": before.reason, "reset_at": now, "reset_by": by}])
    return before


def reminder_number(state: BreakerState, timeout_s: int, now: datetime) -> int:
    """0 when the breaker has just opened, then one more each ``timeout_s`` it stays open: the
    alert about an open breaker is keyed by it, so it is repeated that often and no more."""
    elapsed = (now - state.opened_at).total_seconds()
    return int(elapsed // timeout_s) if timeout_s else 0

"""Operator errors as Dagster failures (the message of a BillingError, no traceback, no
retry), and the body most correction steps share: one transaction, one domain step, its
counts as metadata."""

from datetime import date
from typing import Callable, Optional, TypeVar

from dagster import Failure, MaterializeResult
from sqlalchemy import Connection

from billing.errors import BillingError
from resources import BillingDatabase

T = TypeVar("T")


def refused_as_failure(step: Callable[[], T]) -> T:
    """Run a domain step; a ``BillingError`` (a refusal the operator can act on) becomes a
    ``Failure`` carrying its message."""
    try:
        return step()
    except BillingError as refused:
        raise Failure(description=str(refused), allow_retries=False) from None


def config_date(name: str, value: Optional[str]) -> Optional[date]:
    """A ``YYYY-MM-DD`` run-config value as a date (None when not given)."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Failure(description=f"{name} {value!r} is not a date in YYYY-MM-DD form", allow_retries=False) from None


def step_in_transaction(database: BillingDatabase, step: Callable[[Connection], dict]) -> MaterializeResult:
    """Run ``step`` in one database transaction; its counts become the materialization's
    metadata, a refusal the run's failure (and the transaction is rolled back)."""
    with database.engine().begin() as conn:
        outcome = refused_as_failure(lambda: step(conn))
    return MaterializeResult(metadata=outcome)

"""Operator errors as Dagster failures: the message of a BillingError, no traceback, no retry."""

from datetime import date
from typing import Callable, Optional, TypeVar

from dagster import Failure

from billing.errors import BillingError

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

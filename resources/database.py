"""The billing database as a Dagster resource."""


from functools import lru_cache
from typing import Optional

from dagster import ConfigurableResource, Failure
from pydantic import Field
from sqlalchemy import Engine

from billing.db.engine import make_engine
from billing.errors import DatabaseRefused
from billing.operations.config import configured_engine_settings
from billing.settings import database_url


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    return make_engine(url, configured_engine_settings())


class BillingDatabase(ConfigurableResource):
    """SQLite under ``$BILLING_HOME`` by default; PostgreSQL through ``BILLING_DATABASE_URL``.

    ``url`` overrides both. The Definitions give it as ``EnvVar("BILLING_DATABASE_URL")`` when
    that is set (resources/secrets.py): the URL may hold a password, so it is never config by value.
    """

    url: Optional[str] = Field(default=None, repr=False, description=(
        "The billing database (SQLAlchemy URL; it may hold a password: give it as an EnvVar). "
        "Unset: BILLING_DATABASE_URL, else SQLite under $BILLING_HOME."))

    def engine(self) -> Engine:
        """The engine, its connection tried first: a server that refuses the URL (a wrong
        password, an unknown database or user) fails the step at once with the reason — the
        retry policy would wait 300 s, 900 s and 2,100 s for a URL that cannot start working.
        A server that is down or restarting is not refused: the step meets it and is retried."""
        engine = _engine(self.url or database_url())
        try:
            engine.connect().close()
        except DatabaseRefused as refused:
            raise Failure(description=str(refused), allow_retries=False) from None
        return engine

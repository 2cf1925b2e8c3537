"""The billing database as a Dagster resource."""


from functools import lru_cache
from typing import Optional

from dagster import ConfigurableResource
from pydantic import Field
from sqlalchemy import Engine

from billing.db.engine import make_engine
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
        return _engine(self.url or database_url())

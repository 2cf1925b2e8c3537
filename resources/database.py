"""The billing database as a Dagster resource."""


from functools import lru_cache
from typing import Optional

from dagster import ConfigurableResource
from sqlalchemy import Engine

from billing.db.engine import make_engine
from billing.operations.config import configured_engine_settings
from billing.settings import database_url


@lru_cache(maxsize=8)
def _engine(url: str) -> Engine:
    return make_engine(url, configured_engine_settings())


class BillingDatabase(ConfigurableResource):
    """SQLite under ``$BILLING_HOME`` by default; PostgreSQL through ``BILLING_DATABASE_URL``.

    ``url`` overrides both (set it from an ``EnvVar`` so that passwords stay out of config).
    """

    url: Optional[str] = None

    def engine(self) -> Engine:
        return _engine(self.url or database_url())

"""The warehouse database of the EDW export, as a Dagster resource."""

from typing import Optional

from dagster import ConfigurableResource
from pydantic import Field

from billing.warehouse.target import warehouse_url


class Warehouse(ConfigurableResource):
    """Where the hourly export upserts its rows besides the Parquet files: ``url``, else
    ``BILLING_WAREHOUSE_URL``, else nowhere. The Definitions give the URL as
    ``EnvVar("BILLING_WAREHOUSE_URL")`` when it is set (resources/secrets.py): it may hold a password."""

    url: Optional[str] = Field(default=None, repr=False, description=(
        "The warehouse database (SQLAlchemy URL; it may hold a password: give it as an EnvVar). "
        "Unset: BILLING_WAREHOUSE_URL, else Parquet files only."))

    def database_url(self) -> Optional[str]:
        return self.url or warehouse_url()

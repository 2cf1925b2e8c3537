"""The feed folders under ``$BILLING_HOME`` as a Dagster resource."""


from pathlib import Path
from typing import Optional

from dagster import ConfigurableResource

from billing.settings import BillingPaths, billing_home


class FeedInbox(ConfigurableResource):
    """``inbox/``, ``archive/`` and ``quarantine/`` under ``home`` (default ``$BILLING_HOME``)."""

    home: Optional[str] = None

    def paths(self) -> BillingPaths:
        return BillingPaths(Path(self.home) if self.home else billing_home()).ensure()

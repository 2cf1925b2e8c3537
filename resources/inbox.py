"""The feed folders under ``$BILLING_HOME`` — and the batch configuration found there — as a
Dagster resource."""


from pathlib import Path
from typing import Optional

from dagster import ConfigurableResource

from billing.operations.config import BatchProcessingConfig, load_config
from billing.settings import BillingPaths, billing_home


class FeedInbox(ConfigurableResource):
    """``inbox/``, ``archive/`` and ``quarantine/`` under ``home`` (default ``$BILLING_HOME``)."""

    home: Optional[str] = None

    def paths(self) -> BillingPaths:
        return BillingPaths(Path(self.home) if self.home else billing_home()).ensure()

    def operations_config(self) -> BatchProcessingConfig:
        """batch_processing.yaml in force (``BILLING_CONFIG``, ``$BILLING_HOME`` or the shipped one)."""
        return load_config(self.paths().home)

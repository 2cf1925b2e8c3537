"""Where things live: the environment contract of DESIGN §4.1, resolved in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

BUSINESS_TIMEZONE = "America/Chicago"


def business_today() -> date:
    """Today in the business time zone: the default business date and the last closable day."""
    return datetime.now(ZoneInfo(BUSINESS_TIMEZONE)).date()


@dataclass(frozen=True)
class BillingPaths:
    """The folders under ``$BILLING_HOME``; created on first use."""

    home: Path

    @property
    def inbox(self) -> Path:
        return self.home / "inbox"

    @property
    def archive(self) -> Path:
        return self.home / "archive"

    @property
    def quarantine(self) -> Path:
        return self.home / "quarantine"

    @property
    def processing(self) -> Path:
        """Feeds handed to `billing feed process`: staged here, out of the sensor's sight."""
        return self.home / "processing"

    @property
    def outbox(self) -> Path:
        return self.home / "outbox"

    @property
    def warehouse(self) -> Path:
        return self.home / "warehouse"

    def ensure(self) -> "BillingPaths":
        for folder in (self.home, self.inbox, self.processing, self.archive, self.quarantine, self.outbox,
                       self.warehouse):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def billing_home() -> Path:
    return Path(os.environ.get("BILLING_HOME", "./.billing")).resolve()


def billing_paths() -> BillingPaths:
    return BillingPaths(billing_home())


def database_url() -> str:
    url = os.environ.get("BILLING_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{billing_home() / 'billing.db'}"


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME", str(billing_home() / "dagster"))).resolve()


def operator_name() -> str:
    """Who runs a command: ``BILLING_OPERATOR`` when set (a shared service account names the
    person), else the operating-system user."""
    import getpass

    return os.environ.get("BILLING_OPERATOR") or getpass.getuser()

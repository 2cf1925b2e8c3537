"""Where things live: the environment contract of DESIGN §4.1, resolved in one place.

``$BILLING_HOME`` holds customer data — feeds, invoices and their e-mails, payment files,
warehouse extracts, the SQLite database, the Dagster run logs — so what the platform creates
there is private to the user it runs as, whatever that process's umask: folders 0o700, the
SQLite database 0o600. A folder that already exists is left as it is (an administrator may
have shared one on purpose, e.g. the inbox with the group that delivers feeds).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

BUSINESS_TIMEZONE = "America/Chicago"
PRIVATE_FOLDER_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
DATABASE_URL_ENV = "BILLING_DATABASE_URL"  # may hold a password: never printed or logged as is (db.engine.display_url)


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

    @property
    def folders(self) -> tuple[Path, ...]:
        """``$BILLING_HOME`` and the folders the platform keeps in it."""
        return self.home, self.inbox, self.processing, self.archive, self.quarantine, self.outbox, self.warehouse

    def ensure(self) -> "BillingPaths":
        for folder in self.folders:
            private_folder(folder)
        return self

    def exposed(self) -> list[Path]:
        """The folders of ``self.folders`` that any user of the machine may enter or read: ones
        that existed before the platform made them private, or were opened since. (Access for
        the folders' group is an administrator's choice: it is not counted.)"""
        return [folder for folder in self.folders if folder.is_dir() and folder.stat().st_mode & 0o007]


def private_folder(folder: Path) -> Path:
    """``folder``, created with any missing parents readable, writable and searchable by this
    user only (0o700). mkdir's mode is masked by the umask and not applied to parents at all,
    so each folder created here gets its mode set afterwards; one that already exists keeps its own."""
    missing = []
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    folder.mkdir(parents=True, exist_ok=True)
    for created in missing:
        created.chmod(PRIVATE_FOLDER_MODE)
    return folder


def billing_home() -> Path:
    return Path(os.environ.get("BILLING_HOME", "./.billing")).resolve()


def billing_paths() -> BillingPaths:
    return BillingPaths(billing_home())


def database_url() -> str:
    url = os.environ.get(DATABASE_URL_ENV)
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

"""The close-of-day policy: the numbers an operator tunes (days, fees, notices, retention).

Read from ``$BILLING_HOME/closeofday.yaml`` (or the file ``BILLING_CLOSEOFDAY_POLICY``
names) when there is one; every key is optional and defaults to the value below. A bad value
is refused at load with its key path and what is allowed, before any step changes anything.
"""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from billing.errors import BillingError

POLICY_FILE = "closeofday.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LateFeePolicy(_Strict):
    """AssessLateFeesByInvoice: once per invoice still open ``grace_days`` after its due date."""

    kind: Literal["PERCENT", "FLAT"] = "PERCENT"
    percent: Decimal = Field(Decimal("1.5"), ge=0, le=100)  # of the invoice's open amount
    flat_amount: Decimal = Field(Decimal("0"), ge=0)  # in the account's currency
    grace_days: int = Field(10, ge=0)


class Retention(_Strict):
    """managefiles for one folder: gzip files older than ``compress_after_days``, delete
    those older than ``delete_after_days`` (ages counted from the business day)."""

    compress_after_days: int = Field(ge=0)
    delete_after_days: int = Field(ge=1)

    @model_validator(mode="after")
    def _delete_after_compress(self) -> "Retention":
        if self.delete_after_days <= self.compress_after_days:
            raise ValueError("delete_after_days must be greater than compress_after_days")
        return self


class RetentionPolicy(_Strict):
    archive: Retention = Retention(compress_after_days=30, delete_after_days=400)
    quarantine: Retention = Retention(compress_after_days=14, delete_after_days=180)


class CloseOfDayPolicy(_Strict):
    close_suspended_after_days: int = Field(90, ge=1)  # CloseSuspendedAccounts / Services
    prebill_days: int = Field(0, ge=0)  # BillServices bills a period this many days before it starts
    late_fee: LateFeePolicy = LateFeePolicy()
    suspend_overdue_after_days: int = Field(30, ge=0)  # past the due date of the oldest unpaid invoice
    warn_service_expiration_days: int = Field(14, ge=0)
    warn_grace_days: int = Field(3, ge=0)
    long_suspension_days: int = Field(60, ge=1)  # NoticeLongSuspend*
    remove_payment_info_after_days: int = Field(90, ge=0)  # RemovePaymentInfo, after the account closed
    operator_email: str = "operator@localhost"  # system notices
    retention: RetentionPolicy = RetentionPolicy()


def policy_path(home: Path) -> Path:
    return Path(os.environ.get("BILLING_CLOSEOFDAY_POLICY") or home / POLICY_FILE)


def load_policy(home: Path) -> CloseOfDayPolicy:
    """The policy of ``home`` (defaults when there is no file); BillingError names a bad key."""
    path = policy_path(home)
    if not path.exists():
        if os.environ.get("BILLING_CLOSEOFDAY_POLICY"):
            raise BillingError(f"BILLING_CLOSEOFDAY_POLICY names {path}, which does not exist: fix the variable")
        return CloseOfDayPolicy()
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise BillingError(f"{path} cannot be read as YAML ({error}); fix it, then run the close of day again") \
            from None
    try:
        return CloseOfDayPolicy.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or '(top level)'}: {problem['msg']}"
            for problem in error.errors())
        raise BillingError(f"{path}: {problems}. Fix the file, then run the close of day again") from None

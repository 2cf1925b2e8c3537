"""Housekeeping of the close of day: managefiles, RemovePaymentInfo and CollectStats.

* managefiles: in ``archive/`` and ``quarantine/``, a file older than the folder's
  ``compress_after_days`` is gzipped (``NAME.gz``, same modification time) and one older than
  ``delete_after_days`` deleted. A file's age is counted from its modification date to the
  business day being closed, so a catch-up of past days touches only what was old then.
* RemovePaymentInfo: the payment method on file of an account CLOSED for the policy's days.
* CollectStats: one row per metric of the day in ``daily_statistic``, replaced on a re-run.
"""

from __future__ import annotations

import gzip
import os
import shutil
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, delete, exists, func, insert, literal, select

from billing.closeofday.policy import CloseOfDayPolicy, Retention
from billing.db.money import dsign, dsum
from billing.db.schema import (
    account_payment_info,
    accounts,
    bill,
    bill_chg,
    bill_segment,
    daily_statistic,
    notice,
    payment,
    services,
)
from billing.errors import BillingError
from billing.settings import BUSINESS_TIMEZONE, BillingPaths


def manage_files(paths: BillingPaths, day: date, policy: CloseOfDayPolicy) -> dict[str, int]:
    counts = {"files_compressed": 0, "files_deleted": 0}
    for folder, retention in ((paths.archive, policy.retention.archive),
                              (paths.quarantine, policy.retention.quarantine)):
        compressed, deleted = _retain(folder, day, retention)
        counts["files_compressed"] += compressed
        counts["files_deleted"] += deleted
    return counts


def _retain(folder: Path, day: date, retention: Retention) -> tuple[int, int]:
    zone = ZoneInfo(BUSINESS_TIMEZONE)
    compressed = deleted = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        try:
            modified = datetime.fromtimestamp(path.stat().st_mtime, zone).date()
            age = (day - modified).days
            if age >= retention.delete_after_days:
                path.unlink()
                deleted += 1
            elif age >= retention.compress_after_days and path.suffix != ".gz":
                _gzip(path)
                compressed += 1
        except OSError as error:
            raise BillingError(f"managefiles could not handle {path} ({error}); fix its permissions or space, "
                               f"then run the close of day again") from None
    for empty in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        if not any(empty.iterdir()):
            empty.rmdir()
    return compressed, deleted


def _gzip(path: Path) -> None:
    """``NAME`` → ``NAME.gz`` with the same modification time, through a hidden partial file
    (a crash leaves the original in place, and the partial file is skipped and overwritten)."""
    partial = path.with_name(f".{path.name}.gz.partial")
    with path.open("rb") as source, gzip.open(partial, "wb") as out:
        shutil.copyfileobj(source, out)
    stat = path.stat()
    os.utime(partial, (stat.st_atime, stat.st_mtime))
    partial.replace(path.with_name(path.name + ".gz"))
    path.unlink()


def remove_payment_info(conn: Connection, day: date, after_days: int) -> int:
    """RemovePaymentInfo: accounts closed since ``after_days`` days (by the close of day, or
    ended that long ago when the reference data closed them)."""
    a = accounts
    closed_long = select(a.c.account_id).where(
        a.c.status == "CLOSED", func.coalesce(a.c.status_dt, a.c.end_dt) <= day - timedelta(days=after_days))
    return conn.execute(delete(account_payment_info).where(account_payment_info.c.account_id.in_(closed_long))).rowcount


def collect_stats(conn: Connection, day: date) -> dict[str, Decimal]:
    """CollectStats: the day's figures, stored and returned."""
    a, s, c = accounts, services, bill_chg

    def count(table, *where) -> Decimal:
        return Decimal(conn.execute(select(func.count()).select_from(table).where(*where)).scalar())

    def total(column, *where) -> Decimal:
        return Decimal(conn.execute(select(func.coalesce(dsum(column), literal(0))).where(*where)).scalar())

    stats = {f"accounts_{status.lower()}": count(a, a.c.status == status) for status in ("OPEN", "SUSPENDED", "CLOSED")}
    stats.update({f"services_{status.lower()}": count(s, s.c.status == status)
                  for status in ("PROSPECTIVE", "OPEN", "SUSPENDED", "CLOSED", "WAIT_FOR_PAYMENT")})
    stats.update({
        "charges_unbilled": count(c, c.c.status == "BILLABLE",
                                  ~exists().where(bill_segment.c.bill_chg_id == c.c.bill_chg_id)),
        "recurring_charged": total(c.c.charge_amount, c.c.source == "RECURRING", c.c.start_dt == day),
        "late_fees_charged": total(c.c.charge_amount, c.c.source == "LATE_FEE", c.c.start_dt == day),
        "payments_received": count(payment, payment.c.payment_dt == day),
        "payments_amount": total(payment.c.amount, payment.c.payment_dt == day),
        "bills_created": count(bill, bill.c.bill_dt == day),
        "invoiced_amount": total(bill.c.total_amount, bill.c.bill_dt == day),
        "receivables": total(a.c.balance, dsign(a.c.balance) == 1),
        "past_due": total(a.c.past_due_balance, dsign(a.c.past_due_balance) == 1),
        "notices": count(notice, notice.c.business_dt == day),
    })
    conn.execute(delete(daily_statistic).where(daily_statistic.c.business_dt == day))
    conn.execute(insert(daily_statistic), [{"business_dt": day, "metric": metric, "value": value}
                                           for metric, value in stats.items()])
    return stats

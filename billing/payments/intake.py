"""Payment files: ``inbox/payments/NAME.csv``, loaded once, good rows kept, bad rows set aside.

A payment file is CSV, UTF-8, with a header naming ``account_id, amount, payment_dt,
reference`` (and optionally ``payment_method``, kept as the account's payment method on
file until RemovePaymentInfo). Write it under another name and rename it to ``.csv`` when
complete: the sensor takes every ``.csv`` it sees.

Each file is identified by its name and content hash (its Dagster partition), so the same
bytes dropped again are recognised and not loaded twice. Each row is checked: the account
exists, the amount is a positive decimal with no more decimals than the account's currency,
the date is ``YYYY-MM-DD``, the reference is not empty and neither repeats a payment already
recorded for the account nor another row of the file. Good rows are recorded in one
transaction with the file; bad rows go to ``quarantine/payments/FILE_ID.rejected.csv`` with a
``reason`` column (written before the commit, so a crash never loses it); the file itself
is archived in ``archive/payments/FILE_ID/``. A file that cannot be read at all goes to
``quarantine/payments/NAME/`` with its ``REASON.txt``. ``billing payments load`` stages its
file in ``processing/payments/``, out of the sensor's sight.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import Connection, Engine, select
from sqlalchemy.exc import IntegrityError

from billing.db.schema import account_payment_info, accounts, currencies, payment, payment_file
from billing.db.upsert import upsert
from billing.errors import BillingError
from billing.feeds.inbox import move_files, quarantine_files
from billing.settings import BillingPaths

REQUIRED = ("account_id", "amount", "payment_dt", "reference")
OPTIONAL = ("payment_method",)
FOLDER = "payments"
LOOKUP_CHUNK = 5_000
NAME_IN_KEY = 40  # characters of the file name kept in its key (keys are at most 64)
LARGEST_AMOUNT = Decimal("1e15")


class PaymentFileUnreadable(Exception):
    """The file as a whole cannot be read (encoding, header)."""


@dataclass
class LoadOutcome:
    file_id: str
    file_name: str
    accepted: int = 0
    rejected: int = 0
    amount: Decimal = Decimal(0)
    already_loaded: bool = False
    message: str | None = None
    rejected_rows: list[dict] = field(default_factory=list)


def inbox_folder(paths: BillingPaths) -> Path:
    return paths.inbox / FOLDER


def staging_folder(paths: BillingPaths) -> Path:
    return paths.processing / FOLDER


def file_id(path: Path) -> str:
    """The file's partition key: (the start of) its name and a short hash of its bytes."""
    return f"{path.stem[:NAME_IN_KEY]}-{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"


def waiting_files(paths: BillingPaths, folder: Path | None = None) -> list[tuple[Path, str]]:
    """(file, key) of each payment file in the inbox (or ``folder``); one that another run
    moves away meanwhile is left out."""
    folder = folder or inbox_folder(paths)
    found = []
    for path in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
        try:
            found.append((path, file_id(path)))
        except FileNotFoundError:
            continue
    return found


def find_file(paths: BillingPaths, key: str) -> Path | None:
    """The payment file of ``key`` in the inbox or the staging folder, if it is still there."""
    for folder in (inbox_folder(paths), staging_folder(paths)):
        for path in sorted(folder.glob("*.csv")) if folder.is_dir() else []:
            if not key.startswith(path.stem[:NAME_IN_KEY] + "-"):  # hash only the files the key names
                continue
            try:
                if file_id(path) == key:
                    return path
            except FileNotFoundError:
                continue
    return None


def retire_loaded(engine: Engine, paths: BillingPaths) -> list[Path]:
    """Files of the inbox already loaded (the same bytes dropped again): archived beside the
    first copy, since their run key is used up and no run will take them."""
    retired = []
    for path, key in waiting_files(paths):
        if is_loaded(engine, key):
            move_files([path], paths.archive / FOLDER / key)
            retired.append(path)
    return retired


def is_loaded(engine: Engine, key: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(payment_file.c.file_id).where(payment_file.c.file_id == key)).first() is not None


def load_payment_file(engine: Engine, paths: BillingPaths, path: Path) -> LoadOutcome:
    """Record the file's good rows (once) and move the file out of the inbox."""
    key = file_id(path)
    outcome = LoadOutcome(key, path.name)
    try:
        rows = _read(path)
    except PaymentFileUnreadable as unreadable:
        outcome.message = f"{path.name} cannot be read: {unreadable}. Fix the file and drop it in the inbox again."
        quarantine_files([path], outcome.message, paths.quarantine / FOLDER, path.stem)
        return outcome
    try:
        with engine.begin() as conn:
            if conn.execute(select(payment_file.c.file_id).where(payment_file.c.file_id == key)).first():
                outcome.already_loaded = True
            else:
                good = _check(conn, rows, outcome)
                if outcome.rejected_rows:
                    _write_rejected(paths.quarantine / FOLDER / f"{key}.rejected.csv", outcome.rejected_rows)
                _record(conn, key, path.name, rows, good, outcome)
    except IntegrityError as clash:
        if not is_loaded(engine, key):  # not a run of the same file that committed first
            raise BillingError(f"payment file {path.name} could not be recorded ({clash.orig}); it stays in "
                               f"{path.parent}: drop it again once the cause is fixed") from None
        outcome = LoadOutcome(key, path.name, already_loaded=True)
    move_files([path], paths.archive / FOLDER / key)
    return outcome


def _read(path: Path) -> list[dict]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PaymentFileUnreadable(f"not UTF-8 ({error.reason} at byte {error.start})") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise PaymentFileUnreadable(f"the header lacks {', '.join(missing)} (it must name {', '.join(REQUIRED)})")
    return [{**row, "line": number} for number, row in enumerate(reader, start=2)]


def _check(conn: Connection, rows: list[dict], outcome: LoadOutcome) -> list[dict]:
    """The good rows, parsed; each bad row is added to ``outcome.rejected_rows`` with its reason."""
    ids = sorted({(row.get("account_id") or "").strip() for row in rows})
    units, recorded = {}, set()
    for start in range(0, len(ids), LOOKUP_CHUNK):  # bounded IN lists (SQLite caps bound parameters)
        some = ids[start:start + LOOKUP_CHUNK]
        units.update(conn.execute(
            select(accounts.c.account_id, currencies.c.minor_units)
            .join(currencies, currencies.c.currency_cd == accounts.c.currency_cd)
            .where(accounts.c.account_id.in_(some))).all())
        recorded.update(conn.execute(
            select(payment.c.account_id, payment.c.reference).where(payment.c.account_id.in_(some))).all())
    seen: set[tuple[str, str]] = set()
    good = []
    for row in rows:
        reason, parsed = _row_problem(row, units, recorded, seen)
        if reason:
            outcome.rejected_rows.append({**{k: row.get(k) or "" for k in (*REQUIRED, *OPTIONAL)},
                                          "line": row["line"], "reason": reason})
        else:
            good.append(parsed)
    return good


def _row_problem(row: dict, units: dict, recorded: set, seen: set) -> tuple[str | None, dict | None]:
    account = (row.get("account_id") or "").strip()
    reference = (row.get("reference") or "").strip()
    if account not in units:
        return f"unknown account '{account}': load it with `billing reference load`, then drop the row again", None
    try:
        amount = Decimal((row.get("amount") or "").strip())
    except InvalidOperation:
        return f"amount '{row.get('amount')}' is not a decimal number", None
    if not amount.is_finite() or amount <= 0:
        return f"amount '{row.get('amount')}' must be greater than 0 (refunds are adjustments)", None
    if amount >= LARGEST_AMOUNT:
        return f"amount {row.get('amount')} is too large for a payment", None
    if -amount.normalize().as_tuple().exponent > units[account]:
        return f"amount {amount} has more decimals than the account's currency allows ({units[account]})", None
    try:
        paid_on = date.fromisoformat((row.get("payment_dt") or "").strip())
    except ValueError:
        return f"payment_dt '{row.get('payment_dt')}' is not a date YYYY-MM-DD", None
    if not reference or len(reference) > 200:
        return "reference must be 1 to 200 characters: it identifies the payment", None
    if (account, reference) in recorded:
        return f"payment {reference} of account {account} is already recorded", None
    if (account, reference) in seen:
        return f"payment {reference} of account {account} appears twice in the file", None
    seen.add((account, reference))
    method = (row.get("payment_method") or "").strip()[:200]
    return None, {"account_id": account, "amount": amount, "payment_dt": paid_on, "reference": reference,
                  "line": row["line"], "payment_method": method}


def _record(conn: Connection, key: str, name: str, rows: list[dict], good: list[dict], outcome: LoadOutcome) -> None:
    outcome.accepted, outcome.rejected = len(good), len(rows) - len(good)
    outcome.amount = sum((row["amount"] for row in good), Decimal(0))
    conn.execute(payment_file.insert().values(
        file_id=key, file_name=name, loaded_at=datetime.now(timezone.utc), row_count=len(rows),
        accepted=outcome.accepted, rejected=outcome.rejected,
        message=f"{outcome.rejected} rows rejected: see quarantine/payments" if outcome.rejected else None))
    if good:
        conn.execute(payment.insert(), [
            {"payment_id": f"{key}:{row['line']}", "account_id": row["account_id"], "amount": row["amount"],
             "payment_dt": row["payment_dt"], "reference": row["reference"], "file_id": key} for row in good])
    methods = {}
    for row in sorted((r for r in good if r["payment_method"]), key=lambda r: r["payment_dt"]):
        methods[row["account_id"]] = {"account_id": row["account_id"], "payment_method": row["payment_method"],
                                      "updated_dt": row["payment_dt"]}
    upsert(conn, account_payment_info, list(methods.values()))


def _write_rejected(path: Path, rejected: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=["line", *REQUIRED, *OPTIONAL, "reason"])
        writer.writeheader()
        writer.writerows(rejected)
    partial.replace(path)


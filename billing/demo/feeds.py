"""Demo transaction feeds (DESIGN §4.3) over the sample reference data.

:func:`write_feed` writes ``NAME.csv`` and then ``NAME.ctl.json`` (the control file last, so
its arrival means the data file is complete). About ``1 − bad_fraction`` of the rows are
normal transactions that complete; the rest are spread over every problem kind of DESIGN §5
(step 3 ``INVL`` and ``EROR``, step 6 ``EROR``, ``IGNR``), at least one row of each kind when
``bad_fraction > 0`` and the feed has room for them. :func:`generate_rows` gives the same rows
with their kind, for tests and for the demo's summary of what to expect.

Everything is deterministic for a seed, and the control totals are exact decimals.

Dates: pick ``txn_dates`` inside 2025-01-01 … 2026-12-31 (the sample aggregation periods).
Two traps need particular dates and get the latest suitable date of the range: the
"outside its start/end dates" account needs a date after 2025-06-30, the "no aggregation
period" account a date in 2026; a range that ends earlier cannot show those two errors.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from billing.demo import catalog as C
from billing.feeds.reader import OPTIONAL_COLUMNS, REQUIRED_COLUMNS

COLUMNS: tuple[str, ...] = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS, "merchant_category")
_AMOUNT = COLUMNS.index("amount")
_VOLUME = COLUMNS.index("volume")

NORMAL = "normal"

#: Malformed rows: the transaction becomes INVL in step 3.
INVL_KINDS: tuple[str, ...] = (
    "invl_bad_datetime",
    "invl_bad_amount",
    "invl_bad_volume",
    "invl_missing_account",
    "invl_bad_currency",
    "invl_duplicate_external_id",
    "invl_wrong_field_count",
)
#: Recoverable validation errors of step 3 (C1-TXNIP): EROR.
EROR_VALIDATION_KINDS: tuple[str, ...] = (
    "eror_unknown_account",
    "eror_other_division",
    "eror_closed_account",
    "eror_account_dates",
    "eror_unknown_currency",
    "eror_no_rule",
    "eror_parent_missing",
)
#: Errors of step 6 (C1-TXNEX): EROR.
EROR_PRICING_KINDS: tuple[str, ...] = (
    "eror_no_pricing",
    "eror_ambiguous_pricing",
    "eror_no_contract",
    "eror_inactive_contract",
    "eror_two_contracts",
    "eror_no_aggregation_period",
    "eror_no_exchange_rate",
)
IGNR_KINDS: tuple[str, ...] = ("ignr_ignored_pricing",)
BAD_KINDS: tuple[str, ...] = INVL_KINDS + EROR_VALIDATION_KINDS + EROR_PRICING_KINDS + IGNR_KINDS

#: The status each kind of row should end in after aggregation. (An implementation that also
#: flags the *first* occurrence of a repeated external_txn_id shows one more INVL per
#: ``invl_duplicate_external_id`` row.)
EXPECTED_STATUS: dict[str, str] = {
    NORMAL: "COMP",
    **{k: "INVL" for k in INVL_KINDS},
    **{k: "EROR" for k in EROR_VALIDATION_KINDS + EROR_PRICING_KINDS},
    **{k: "IGNR" for k in IGNR_KINDS},
}

_EXPIRED_AFTER = date.fromisoformat(C.EXPIRED_ACCOUNT_END_DT) + timedelta(days=1)
_NO_QUARTER_FROM = date.fromisoformat(C.QUARTERLY_LAST_PERIOD_END) + timedelta(days=1)


@dataclass(frozen=True)
class FeedRow:
    """One data row as written (``cells``; the wrong-field-count row has more or fewer)."""

    kind: str
    cells: tuple[str, ...]

    @property
    def expected_status(self) -> str:
        return EXPECTED_STATUS[self.kind]

    @property
    def external_txn_id(self) -> str:
        return self.cells[0]


@dataclass(frozen=True)
class ControlTotals:
    record_count: int
    total_amount: Decimal
    total_volume: Decimal


# --- normal transactions -------------------------------------------------------------------------

# product → (weight, amount range in major units of a 2-decimal currency, volume range, channels)
_PRODUCT_PROFILE: dict[str, tuple[int, tuple[int, int], tuple[int, int], tuple[str, ...]]] = {
    C.CARD_PURCHASE: (36, (3, 600), (1, 1), ("POS", "POS", "POS", "ONLINE", "ONLINE")),
    C.ATM_CASH: (12, (20, 500), (1, 1), ("ATM",)),
    C.WIRE_OUT: (10, (100, 50_000), (1, 1), ("ONLINE", "ONLINE", "BRANCH", "BRANCH", "MOBILE", "")),
    C.ACH_CREDIT: (12, (10, 8_000), (1, 40), ("ONLINE",)),
    C.FX_CONVERSION: (10, (50, 20_000), (1, 1), ("ONLINE", "BRANCH", "MOBILE")),
    C.CHEQUE_DEPOSIT: (10, (20, 12_000), (1, 20), ("BRANCH", "ATM", "MOBILE")),
    C.STOP_PAYMENT: (6, (10, 5_000), (1, 1), ("BRANCH", "ONLINE", "")),
    C.SAFE_DEPOSIT: (4, (0, 0), (1, 1), ("BRANCH",)),
    C.BAL_INQUIRY: (0, (0, 0), (1, 1), ("ATM", "MOBILE")),
    C.GOLD_BULLION: (0, (500, 40_000), (1, 10), ("BRANCH",)),
}
_NORMAL_PRODUCTS = tuple(p for p, prof in _PRODUCT_PROFILE.items() if prof[0] > 0)
_NORMAL_WEIGHTS = tuple(_PRODUCT_PROFILE[p][0] for p in _NORMAL_PRODUCTS)
_MCC = ("5411", "5812", "5912", "5999", "4111", "5541", "5732", "7011", "4511", "5651")
_JPY_PER_UNIT = 150  # amounts in JPY are about 150 times those of a 2-decimal currency


def _money(rng: random.Random, currency: str, lo: int, hi: int) -> str:
    if C.CURRENCY_MINOR_UNITS.get(currency, 2) == 0:
        return str(rng.randint(lo * _JPY_PER_UNIT, hi * _JPY_PER_UNIT))
    cents = rng.randint(lo * 100, hi * 100)
    return f"{cents // 100}.{cents % 100:02d}"


def _datetime(rng: random.Random, lo: date, hi: date, not_before: date | None = None) -> str:
    if not_before is not None:
        lo = min(max(lo, not_before), hi)
    day = lo + timedelta(days=rng.randint(0, (hi - lo).days))
    second = rng.randint(0, 86_399)
    return f"{day.isoformat()}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}"


def _reference(rng: random.Random, product: str) -> str:
    prefix = {
        C.CARD_PURCHASE: "AUTH", C.ATM_CASH: "ATM", C.WIRE_OUT: "WIRE", C.ACH_CREDIT: "ACH",
        C.FX_CONVERSION: "FX", C.CHEQUE_DEPOSIT: "CHQ", C.STOP_PAYMENT: "STOP", C.SAFE_DEPOSIT: "SDB",
        C.BAL_INQUIRY: "INQ",
    }.get(product, "REF")
    return f"{prefix}-{rng.randint(0, 99_999_999):08d}"


def _row(
    rng: random.Random,
    txn_id: str,
    dates: tuple[date, date],
    division: str,
    account: str,
    product: str,
    *,
    currency: str | None = None,
    not_before: date | None = None,
) -> list[str]:
    _, (lo, hi), (vlo, vhi), channels = _PRODUCT_PROFILE[product]
    home = C.DIVISION_CURRENCY[division]
    if currency is None:
        currency = home
        if product == C.FX_CONVERSION:
            currency = rng.choice([c for c in C.TXN_CURRENCIES if c != home])
        elif product == C.CARD_PURCHASE and rng.random() < 0.12:  # card used abroad
            currency = rng.choice([c for c in C.TXN_CURRENCIES if c != home])
    return [
        txn_id,
        _datetime(rng, dates[0], dates[1], not_before),
        account,
        product,
        currency,
        _money(rng, currency, lo, hi),
        str(rng.randint(vlo, vhi)),
        rng.choice(channels),
        _reference(rng, product),
        rng.choice(_MCC) if product == C.CARD_PURCHASE else ("6011" if product == C.ATM_CASH else ""),
    ]


def _normal_row(rng: random.Random, txn_id: str, dates: tuple[date, date], division: str) -> list[str]:
    product = rng.choices(_NORMAL_PRODUCTS, weights=_NORMAL_WEIGHTS)[0]
    if product in C.PARENT_LEG_PRODUCTS:
        account = rng.choice(C.CHILD_ACCOUNTS[division])
    elif product == C.SAFE_DEPOSIT:
        account = rng.choice(C.SAFE_DEPOSIT_PRICED_ACCOUNTS[division])
    else:
        account = rng.choice(C.NORMAL_ACCOUNTS[division])
    return _row(rng, txn_id, dates, division, account, product)


# --- problem rows ----------------------------------------------------------------------------------


# kind → (trap account of the division, or None for a normal one; product; row options)
_TRAP_ROWS: dict[str, tuple[str | None, str, dict]] = {
    "eror_unknown_account": ("unknown_account", C.CARD_PURCHASE, {}),
    "eror_other_division": ("other_division_account", C.CARD_PURCHASE, {}),
    "eror_closed_account": ("closed_account", C.CARD_PURCHASE, {}),
    "eror_account_dates": ("expired_account", C.CARD_PURCHASE, {"not_before": _EXPIRED_AFTER}),
    "eror_unknown_currency": (None, C.CARD_PURCHASE, {"currency": C.UNKNOWN_CURRENCY}),
    "eror_no_rule": (None, C.NO_RULE_PRODUCT, {}),
    "eror_parent_missing": ("no_parent_account", C.WIRE_OUT, {}),
    "eror_no_pricing": ("no_pricing_account", C.NO_PRICING_PRODUCT, {}),
    "eror_ambiguous_pricing": ("ambiguous_pricing_account", C.STOP_PAYMENT, {}),
    "eror_no_contract": ("no_contract_account", C.CARD_PURCHASE, {}),
    "eror_inactive_contract": ("inactive_contract_account", C.CARD_PURCHASE, {}),
    "eror_two_contracts": ("two_contracts_account", C.CARD_PURCHASE, {}),
    "eror_no_aggregation_period": ("quarterly_account", C.ATM_CASH, {"not_before": _NO_QUARTER_FROM}),
    "eror_no_exchange_rate": ("chf_pricing_account", C.FX_CONVERSION, {}),
    "ignr_ignored_pricing": (None, C.IGNORED_PRODUCT, {}),
}


def _bad_row(
    kind: str,
    rng: random.Random,
    txn_id: str,
    dates: tuple[date, date],
    division: str,
    earlier_normal_ids: list[str],
) -> list[str]:
    traps = C.TRAPS[division]
    home = C.DIVISION_CURRENCY[division]
    normal_account = rng.choice(C.NORMAL_ACCOUNTS[division])

    def trap(account: str, product: str, **kw) -> list[str]:
        kw.setdefault("currency", home)
        return _row(rng, txn_id, dates, division, account, product, **kw)

    if kind in INVL_KINDS:
        row = trap(normal_account, C.CARD_PURCHASE)
        if kind == "invl_bad_datetime":
            row[1] = rng.choice(("2026-13-03T14:22:05", "2026-02-30T09:15:00", "not-a-date"))
        elif kind == "invl_bad_amount":
            row[_AMOUNT] = rng.choice(("12.34.56", "abc", "1O0.00"))
        elif kind == "invl_bad_volume":
            row[_VOLUME] = rng.choice(("one", "1.2.3", "x"))
        elif kind == "invl_missing_account":
            row[2] = ""
        elif kind == "invl_bad_currency":
            row[4] = rng.choice(("EURO", "US", "DOLLAR"))
        elif kind == "invl_duplicate_external_id":
            row[0] = rng.choice(earlier_normal_ids)
        elif kind == "invl_wrong_field_count":
            # Zero amount and volume: the control totals are the same whether or not a reader
            # counts the cells of a row it cannot split into the right columns.
            row[_AMOUNT] = "0" if C.CURRENCY_MINOR_UNITS[home] == 0 else "0.00"
            row[_VOLUME] = "0"
            row = row + ["UNEXPECTED"] if rng.random() < 0.5 else row[:-2]
        return row
    if kind not in _TRAP_ROWS:
        raise ValueError(f"unknown row kind {kind!r}")
    trap_account, product, extra = _TRAP_ROWS[kind]
    return trap(normal_account if trap_account is None else getattr(traps, trap_account), product, **extra)


# --- the feed ----------------------------------------------------------------------------------------


def generate_rows(
    *,
    external_header_id: str,
    division: str,
    n: int,
    seed: int,
    bad_fraction: float = 0.02,
    txn_dates: tuple[date, date],
) -> list[FeedRow]:
    """The ``n`` data rows of a demo feed, each with its kind; deterministic for ``seed``."""
    if division not in C.DIVISIONS:
        raise ValueError(f"division {division!r} is not one of the sample divisions {', '.join(C.DIVISIONS)}")
    if n < 1:
        raise ValueError("a feed needs at least one row (n >= 1)")
    if not 0 <= bad_fraction <= 1:
        raise ValueError("bad_fraction must be between 0 and 1")
    lo, hi = txn_dates
    if lo > hi:
        raise ValueError(f"txn_dates {lo} … {hi}: the first date is after the second")
    rng = random.Random(seed)

    bad_count = 0
    if bad_fraction > 0:
        bad_count = min(n - 1, max(len(BAD_KINDS), round(n * bad_fraction)))  # row 1 is always normal
    kinds = [BAD_KINDS[i % len(BAD_KINDS)] for i in range(bad_count)]
    rng.shuffle(kinds)
    positions = sorted(rng.sample(range(1, n), bad_count)) if bad_count else []
    kind_at = dict(zip(positions, kinds))

    rows: list[FeedRow] = []
    normal_ids: list[str] = []
    for i in range(n):
        txn_id = f"{external_header_id}-{i + 1:07d}"
        kind = kind_at.get(i, NORMAL)
        if kind == NORMAL:
            cells = _normal_row(rng, txn_id, txn_dates, division)
            normal_ids.append(txn_id)
        else:
            cells = _bad_row(kind, rng, txn_id, txn_dates, division, normal_ids)
        rows.append(FeedRow(kind, tuple(cells)))
    return rows


_DECIMAL = re.compile(r"[+-]?\d+(\.\d+)?")


def _decimal(cell: str | None) -> Decimal | None:
    if cell is None or not _DECIMAL.fullmatch(cell):
        return None
    return Decimal(cell)


def control_totals(rows: list[FeedRow]) -> ControlTotals:
    """Record count (every row) and exact sums of the amount and volume cells that parse."""
    amount = Decimal(0)
    volume = Decimal(0)
    for row in rows:
        cells = row.cells
        a = _decimal(cells[_AMOUNT]) if len(cells) > _AMOUNT else None
        v = _decimal(cells[_VOLUME]) if len(cells) > _VOLUME else None
        if a is not None:
            amount += a
        if v is not None:
            volume += v
    return ControlTotals(len(rows), amount, volume)


def write_feed(
    folder: Path,
    name: str,
    *,
    external_header_id: str,
    source: str,
    division: str,
    header_date: date,
    n: int,
    seed: int,
    bad_fraction: float = 0.02,
    txn_dates: tuple[date, date],
) -> tuple[Path, Path]:
    """Write the demo feed ``folder/name.csv`` and then its control file ``folder/name.ctl.json``.

    ``n`` data rows for ``division`` dated inside ``txn_dates`` (inclusive, not after
    ``header_date``); about ``bad_fraction`` of them spread over every problem kind (see the
    module docstring). Returns ``(data_path, control_path)``.
    """
    if txn_dates[1] > header_date:
        raise ValueError(f"txn_dates end {txn_dates[1]} is after the header date {header_date}")
    rows = generate_rows(
        external_header_id=external_header_id,
        division=division,
        n=n,
        seed=seed,
        bad_fraction=bad_fraction,
        txn_dates=txn_dates,
    )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data_path = folder / f"{name}.csv"
    control_path = folder / f"{name}.ctl.json"

    with open(data_path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows(row.cells for row in rows)
        fh.flush()
        os.fsync(fh.fileno())

    totals = control_totals(rows)
    control = {
        "external_header_id": external_header_id,
        "header_date": header_date.isoformat(),
        "source": source,
        "division": division,
        "record_count": totals.record_count,
        "total_amount": format(totals.total_amount, "f"),
        "total_volume": format(totals.total_volume, "f"),
        "data_file": data_path.name,
    }
    # The control file is written last, under a temporary name then renamed, so whoever sees
    # NAME.ctl.json sees it whole and the data file complete.
    tmp = folder / f".{name}.ctl.json.tmp"
    tmp.write_text(json.dumps(control, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, control_path)
    return data_path, control_path


# --- the demo's feeds --------------------------------------------------------------------------------

DEMO_HEADER_DATE = date(2026, 11, 20)
DEMO_BUSINESS_DATE = date(2026, 11, 21)
_DEMO_SOURCES = (("US", "BANKA"), ("EU", C.LOCKBOX_SOURCE), ("JP", "CARDNET"))


def write_demo_feeds(folder: Path, count: int, rows: int) -> list[Path]:
    """The demo's feeds, one division after the other; returns their control files.

    Fixed dates and seeds: the same demo writes the same bytes, so running it again is a no-op.
    """
    controls = []
    for number in range(1, count + 1):
        division, source = _DEMO_SOURCES[(number - 1) % len(_DEMO_SOURCES)]
        _, control = write_feed(
            folder,
            f"demo-{number:02d}-{division.lower()}",
            external_header_id=f"DEMO-{number:04d}",
            source=source,
            division=division,
            header_date=DEMO_HEADER_DATE,
            n=rows,
            seed=number,
            txn_dates=(DEMO_HEADER_DATE - timedelta(days=30), DEMO_HEADER_DATE),
        )
        controls.append(control)
    return controls

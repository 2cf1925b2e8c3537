"""The reference files of DESIGN §4.4, declared as data.

Each file is one :class:`FileSpec`: its columns (type, required or not, allowed values or
range), its key, the codes it borrows from other files and the column pairs that must be in
order. The loader is generic over these specs, so the contract lives in one place and a test
can hold it against the database schema. The few rules that need more than one cell of a row
(pricing combinations, required fields per rate type) are also tables here, checked by the
loader.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum

_INT = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Integer columns are 32-bit in PostgreSQL; refuse what the database would.
_INT_LIMIT = 2**31 - 1


class Kind(Enum):
    TEXT = "text"
    INT = "int"
    DATE = "date"
    DECIMAL = "decimal"
    FLAG = "flag"
    ENUM = "enum"


@dataclass(frozen=True)
class Column:
    """One column: how its non-empty cells parse, and what values are allowed."""

    name: str
    kind: Kind = Kind.TEXT
    required: bool = False
    allowed: tuple[str, ...] = ()  # ENUM values
    low: int | None = None  # INT range, inclusive
    high: int | None = None
    positive: bool = False  # DECIMAL strictly above zero

    def parse(self, cell: str) -> str | int | date | Decimal:
        """The Python value of a non-empty cell; ValueError says what is wrong and allowed."""
        if self.kind is Kind.INT:
            return self._check_range(_parse_int(cell))
        if self.kind is Kind.DATE:
            return _parse_date(cell)
        if self.kind is Kind.DECIMAL:
            value = _parse_decimal(cell)
            if self.positive and value <= 0:
                raise ValueError(f"{cell} must be greater than 0")
            return value
        if self.kind is Kind.FLAG and cell not in ("Y", "N"):
            raise ValueError(f"'{cell}' is not a flag (allowed: Y, N)")
        if self.kind is Kind.ENUM and cell not in self.allowed:
            allowed = ", ".join(self.allowed) + ("" if self.required else ", or empty")
            raise ValueError(f"'{cell}' is not allowed (allowed: {allowed})")
        return cell

    def _check_range(self, value: int) -> int:
        low = -_INT_LIMIT if self.low is None else self.low
        high = _INT_LIMIT if self.high is None else self.high
        if not low <= value <= high:
            raise ValueError(f"{value} is out of range (allowed: {low} to {high})")
        return value


def _parse_int(cell: str) -> int:
    if not _INT.fullmatch(cell):
        raise ValueError(f"'{cell}' is not a whole number (e.g. 12)")
    digits = len(cell.lstrip("-").lstrip("0"))
    if digits > len(str(_INT_LIMIT)):  # int() of thousands of digits would give advice for programmers
        raise ValueError(f"a whole number of {digits} digits is out of range (at most {len(str(_INT_LIMIT))} digits)")
    return int(cell)


def _parse_date(cell: str) -> date:
    try:
        if not _DATE.fullmatch(cell):
            raise ValueError(cell)
        return date.fromisoformat(cell)  # also refuses 2026-02-30
    except ValueError:
        raise ValueError(f"'{cell}' is not a date (YYYY-MM-DD, e.g. 2026-01-31)") from None


def _parse_decimal(cell: str) -> Decimal:
    if not _DECIMAL.fullmatch(cell):
        raise ValueError(f"'{cell}' is not a decimal number (e.g. 12.50)")
    return Decimal(cell)


@dataclass(frozen=True)
class Reference:
    """``column`` holds a ``noun`` that must be a ``target_column`` value of file ``target``.

    With ``when=(other_column, value)`` only rows where that column has that value refer.
    """

    column: str
    target: str
    target_column: str
    noun: str
    when: tuple[str, str] | None = None


@dataclass(frozen=True)
class FileSpec:
    """One reference file; its stem is also the name of the table it is loaded into."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    references: tuple[Reference, ...] = ()
    ordered: tuple[tuple[str, str], ...] = ()  # (a, b): a must not be after / above b

    @property
    def filename(self) -> str:
        return f"{self.name}.csv"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


def _text(name: str, required: bool = False) -> Column:
    return Column(name, Kind.TEXT, required)


def _int(
    name: str, required: bool = False, low: int | None = None, high: int | None = None
) -> Column:
    return Column(name, Kind.INT, required, low=low, high=high)


def _date(name: str, required: bool = False) -> Column:
    return Column(name, Kind.DATE, required)


def _decimal(name: str, required: bool = False, positive: bool = False) -> Column:
    return Column(name, Kind.DECIMAL, required, positive=positive)


def _flag(name: str) -> Column:
    return Column(name, Kind.FLAG, required=True)


def _enum(name: str, *allowed: str, required: bool = True) -> Column:
    return Column(name, Kind.ENUM, required, allowed=allowed)


_DATES = (("start_dt", "end_dt"),)


def _ref(
    column: str,
    target: str,
    noun: str,
    target_column: str | None = None,
    when: tuple[str, str] | None = None,
) -> Reference:
    return Reference(column, target, target_column or column, noun, when)


FILES: tuple[FileSpec, ...] = (
    FileSpec(
        "currencies",
        (_text("currency_cd", True), _int("minor_units", True, low=0, high=6)),
        key=("currency_cd",),
    ),
    FileSpec(
        "divisions",
        (
            _text("division_cd", True),
            _text("name", True),
            _text("currency_cd", True),
            _enum("processing_date_basis", "TXN_DATE", "BUSINESS_DATE"),
            _text("default_price_list_cd"),
        ),
        key=("division_cd",),
        references=(_ref("currency_cd", "currencies", "currency"),),
    ),
    FileSpec(
        "persons",
        (_text("person_id", True), _text("name", True), _text("email")),
        key=("person_id",),
    ),
    FileSpec(
        "bill_cycles",
        (_text("bill_cycle_cd", True), _int("close_day", True, low=1, high=28)),
        key=("bill_cycle_cd",),
    ),
    FileSpec(
        "accounts",
        (
            _text("account_id", True),
            _text("person_id", True),
            _text("division_cd", True),
            _text("currency_cd", True),
            _text("bill_cycle_cd", True),
            _enum("status", "OPEN", "SUSPENDED", "CLOSED"),
            _text("parent_account_id"),
            _text("price_list_cd"),
            _date("start_dt", True),
            _date("end_dt"),
            _int("payment_terms_days"),
            _text("tax_cd"),
            _text("email"),
        ),
        key=("account_id",),
        references=(
            _ref("person_id", "persons", "person"),
            _ref("division_cd", "divisions", "division"),
            _ref("currency_cd", "currencies", "currency"),
            _ref("bill_cycle_cd", "bill_cycles", "bill cycle"),
            _ref("parent_account_id", "accounts", "parent account", "account_id"),
        ),
        ordered=_DATES,
    ),
    FileSpec(
        "contracts",
        (
            _text("contract_id", True),
            _text("account_id", True),
            _text("contract_type", True),
            _enum("status", "ACTIVE", "PENDING_STOP", "STOPPED", "INACTIVE"),
            _date("start_dt", True),
            _date("end_dt"),
        ),
        key=("contract_id",),
        references=(_ref("account_id", "accounts", "account"),),
        ordered=_DATES,
    ),
    FileSpec(
        "price_items",
        (_text("price_item_cd", True), _text("description", True), _text("contract_type")),
        key=("price_item_cd",),
    ),
    FileSpec(
        "pricing",
        (
            _text("price_assignment_id", True),
            _enum("scope", "ACCOUNT", "PERSON", "PRICE_LIST"),
            _text("scope_id", True),
            _text("price_item_cd", True),
            _text("param_value"),
            _date("start_dt", True),
            _date("end_dt"),
            _text("currency_cd", True),
            _flag("ignore_txn"),
            _flag("aggregate_txn"),
            _enum("rating_criteria", "DNRT", "RITX", "RITA", "AGTR"),
            _text("aggregation_schedule_cd"),
            _enum("sqi_basis", "TXN_COUNT", "TXN_VOLUME", "TXN_AMOUNT"),
            _enum("rate_type", "FLAT", "TIERED", "VOLUME", "PACKAGE", "PERCENT", "FIXED"),
            _decimal("unit_price"),
            _decimal("package_size", positive=True),
            _decimal("percent"),
            _decimal("fixed_amount"),
            _decimal("min_charge"),
            _decimal("max_charge"),
        ),
        key=("price_assignment_id",),
        references=(
            _ref("price_item_cd", "price_items", "price item"),
            _ref("currency_cd", "currencies", "currency"),
            _ref(
                "aggregation_schedule_cd", "aggregation_periods", "aggregation schedule",
                "schedule_cd",
            ),
            _ref("scope_id", "accounts", "account", "account_id", when=("scope", "ACCOUNT")),
            _ref("scope_id", "persons", "person", "person_id", when=("scope", "PERSON")),
        ),
        ordered=(*_DATES, ("min_charge", "max_charge")),
    ),
    FileSpec(
        "pricing_tiers",
        (
            _text("price_assignment_id", True),
            _int("tier_seq", True),
            _decimal("up_to"),
            _decimal("unit_price"),
            _decimal("flat_amount"),
        ),
        key=("price_assignment_id", "tier_seq"),
        references=(_ref("price_assignment_id", "pricing", "price assignment"),),
    ),
    FileSpec(
        "aggregation_periods",
        (_text("schedule_cd", True), _date("period_start", True), _date("period_end", True)),
        key=("schedule_cd", "period_start"),
        ordered=(("period_start", "period_end"),),
    ),
    FileSpec(
        "derivation_rules",
        (
            _text("rule_id", True),
            _text("division_cd", True),
            _text("txn_source"),
            _text("product_code"),
            _text("channel"),
            _int("priority", True),
            _date("start_dt", True),
            _date("end_dt"),
        ),
        key=("rule_id",),
        references=(_ref("division_cd", "divisions", "division"),),
        ordered=_DATES,
    ),
    FileSpec(
        "rule_legs",
        (
            _text("rule_id", True),
            _int("leg_seq", True, low=1, high=99),
            _enum("account_basis", "TXN_ACCOUNT", "PARENT_ACCOUNT", "FIXED"),
            _text("fixed_account_id"),
            _text("price_item_cd", True),
            _enum("param_source", "channel", "currency", "product_code", required=False),
        ),
        key=("rule_id", "leg_seq"),
        references=(
            _ref("rule_id", "derivation_rules", "derivation rule"),
            _ref("price_item_cd", "price_items", "price item"),
            _ref("fixed_account_id", "accounts", "account", "account_id"),
        ),
    ),
    FileSpec(
        "exchange_rates",
        (
            _text("from_currency_cd", True),
            _text("to_currency_cd", True),
            _date("effective_dt", True),
            _decimal("rate", True, positive=True),
        ),
        key=("from_currency_cd", "to_currency_cd", "effective_dt"),
        references=(
            _ref("from_currency_cd", "currencies", "currency", "currency_cd"),
            _ref("to_currency_cd", "currencies", "currency", "currency_cd"),
        ),
    ),
    FileSpec(
        "tax_rates",
        (_text("tax_cd", True), _date("effective_dt", True), _decimal("rate_percent", True)),
        key=("tax_cd", "effective_dt"),
    ),
    FileSpec(
        "services",
        (
            _text("service_id", True),
            _text("account_id", True),
            _text("service_cd", True),
            _text("description"),
            _enum("status", "PROSPECTIVE", "OPEN", "SUSPENDED", "CLOSED", "WAIT_FOR_PAYMENT"),
            _date("start_dt", True),
            _date("end_dt"),
            _enum("bill_period", "MONTHLY", "QUARTERLY", "ANNUAL"),
            _decimal("price", True),
            _date("next_bill_dt"),
            _decimal("discount_percent"),
            _date("discount_expires_dt"),
            _date("reopen_dt"),
        ),
        key=("service_id",),
        references=(_ref("account_id", "accounts", "account"),),
        ordered=_DATES,
    ),
    FileSpec(
        "service_definitions",
        (_text("service_cd", True), _text("description"), _date("end_dt")),
        key=("service_cd",),
    ),
)

SPECS: dict[str, FileSpec] = {spec.name: spec for spec in FILES}

# Columns of reference tables that no file loads: the close of day keeps them (statuses'
# reasons and dates, balances, a definition's NO_NEW). A reload leaves them as they are.
KEPT_BY_CLOSE_OF_DAY: dict[str, tuple[str, ...]] = {
    "accounts": ("status_reason", "status_dt", "grace_dt", "balance", "past_due_balance", "balance_dt",
                 "finactivity_sw"),
    "services": ("status_reason", "status_dt"),
    "service_definitions": ("status",),
}
# Of those, what a reload that changes the status clears: the reason and day of the status
# that was (so that, say, a service loaded SUSPENDED is not taken as suspended since long ago).
RESET_WHEN_STATUS_CHANGES: dict[str, tuple[str, ...]] = {
    "accounts": ("status_reason", "status_dt"),
    "services": ("status_reason", "status_dt"),
}

# DESIGN §5 "Rating": (ignore_txn, aggregate_txn, rating_criteria); None = any.
PRICING_COMBINATIONS: tuple[tuple[str, str | None, str], ...] = (
    ("Y", None, "RITX"),
    ("Y", None, "DNRT"),
    ("N", "N", "RITX"),
    ("N", "N", "DNRT"),
    ("N", "Y", "RITA"),
    ("N", "Y", "AGTR"),
    ("N", "Y", "DNRT"),
)

# Pricing columns each rate type needs; TIERED and VOLUME need rows in pricing_tiers instead.
RATE_TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "FLAT": ("unit_price",),
    "PERCENT": ("percent",),
    "FIXED": ("fixed_amount",),
    "PACKAGE": ("unit_price", "package_size"),
}
TIERED_RATE_TYPES = ("TIERED", "VOLUME")

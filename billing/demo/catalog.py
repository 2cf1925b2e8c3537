"""The ids of the sample reference data shipped in ``sample_data/reference`` (DESIGN §4.4).

The demo feed generator (:mod:`billing.demo.feeds`) and the tests pick their accounts and
product codes here, so that a normal transaction completes and every trap transaction ends
in exactly the error it is meant to show. The CSV files and these constants describe the
same data; change them together.

Layout of the sample data
-------------------------
* Divisions ``US`` (USD, ``TXN_DATE``), ``EU`` (EUR, ``BUSINESS_DATE``) and ``JP``
  (JPY, ``TXN_DATE``); default price lists ``US-STD``, ``EU-STD``, ``JP-STD``, premium lists
  ``US-PREM`` and ``EU-PREM``. Every price list prices every price item except
  ``SAFE_DEPOSIT_FEE`` (priced only at ``ACCOUNT`` scope for a few accounts).
* Normal accounts ``{division}-A0001`` … (90 in US, 70 in EU, 45 in JP), all ``OPEN`` from
  2025-01-01 with no end date and exactly one ``ACTIVE`` contract of each contract type
  (``CARDS``, ``PAYMENTS``, ``DEPOSITS``). Accounts number 1, 7, 13, … are top-level
  (corporate parents); every other account's parent is the closest lower top-level account.
* Internal accounts of each division receive the ``FIXED`` legs: ``{division}-INT-REV``
  (revenue share) and ``{division}-INT-ICH`` (interchange).
* Trap accounts ``{division}-T-…`` (see :class:`DivisionTraps`), one set per division, so a
  feed of any division can show every error kind of DESIGN §5 steps 3 and 6.
* Aggregation schedules: ``MONTHLY`` (every month of 2025 and 2026) and ``QUARTERLY``
  (2025 only). Exchange rates exist between USD, EUR, GBP and JPY both ways and from CHF to
  each of them, never *to* CHF. Transactions should therefore be dated 2025-01-01 …
  2026-12-31; the "no aggregation period" trap needs a 2026 date and the "outside its
  dates" trap a date after 2025-06-30.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The sample reference folder in a source checkout (``billing reference load`` reads it).
SAMPLE_REFERENCE_DIR = Path(__file__).resolve().parents[2] / "sample_data" / "reference"

DIVISIONS: tuple[str, ...] = ("US", "EU", "JP")
DIVISION_CURRENCY: dict[str, str] = {"US": "USD", "EU": "EUR", "JP": "JPY"}
PROCESSING_DATE_BASIS: dict[str, str] = {"US": "TXN_DATE", "EU": "BUSINESS_DATE", "JP": "TXN_DATE"}
CURRENCY_MINOR_UNITS: dict[str, int] = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "CHF": 2}
#: Currencies a normal transaction may carry (every one of them converts to every pricing
#: currency used by normal accounts).
TXN_CURRENCIES: tuple[str, ...] = ("USD", "EUR", "GBP", "JPY", "CHF")

DEFAULT_PRICE_LIST: dict[str, str] = {"US": "US-STD", "EU": "EU-STD", "JP": "JP-STD"}
PREMIUM_PRICE_LIST: dict[str, str] = {"US": "US-PREM", "EU": "EU-PREM"}
PRICE_LISTS: dict[str, tuple[str, ...]] = {
    "US": ("US-STD", "US-PREM"),
    "EU": ("EU-STD", "EU-PREM"),
    "JP": ("JP-STD",),
}

BILL_CYCLES: dict[str, int] = {"C01": 1, "C15": 15, "C21": 21, "C28": 28}  # C21 closes on the demo day
CONTRACT_TYPES: tuple[str, ...] = ("CARDS", "PAYMENTS", "DEPOSITS")
AGGREGATION_SCHEDULES: tuple[str, ...] = ("MONTHLY", "QUARTERLY")

# --- accounts ----------------------------------------------------------------------------------

NORMAL_ACCOUNT_COUNT: dict[str, int] = {"US": 90, "EU": 70, "JP": 45}
PARENT_GROUP_SIZE = 6  # numbers 1, 7, 13, … are top-level; 2–6 hang under 1, 8–12 under 7, …


def account_id(division: str, number: int) -> str:
    """Id of the normal account ``number`` (1-based) of ``division``, e.g. ``US-A0007``."""
    return f"{division}-A{number:04d}"


def parent_number(number: int) -> int | None:
    """Number of the parent of normal account ``number``; None for a top-level account."""
    offset = (number - 1) % PARENT_GROUP_SIZE
    return None if offset == 0 else number - offset


NORMAL_ACCOUNTS: dict[str, tuple[str, ...]] = {
    division: tuple(account_id(division, n) for n in range(1, count + 1))
    for division, count in NORMAL_ACCOUNT_COUNT.items()
}
#: account → its parent account (normal accounts that have one).
PARENT_OF: dict[str, str] = {
    account_id(division, n): account_id(division, parent_number(n))
    for division, count in NORMAL_ACCOUNT_COUNT.items()
    for n in range(1, count + 1)
    if parent_number(n) is not None
}
#: Normal accounts with a parent: the only ones to use with a product in
#: :data:`PARENT_LEG_PRODUCTS`.
CHILD_ACCOUNTS: dict[str, tuple[str, ...]] = {
    division: tuple(a for a in accounts if a in PARENT_OF)
    for division, accounts in NORMAL_ACCOUNTS.items()
}
TOP_LEVEL_ACCOUNTS: dict[str, tuple[str, ...]] = {
    division: tuple(a for a in accounts if a not in PARENT_OF)
    for division, accounts in NORMAL_ACCOUNTS.items()
}

#: Internal accounts that receive the FIXED legs (no contracts; priced by the default list).
INTERNAL_REVENUE_ACCOUNT: dict[str, str] = {d: f"{d}-INT-REV" for d in DIVISIONS}
INTERCHANGE_ACCOUNT: dict[str, str] = {d: f"{d}-INT-ICH" for d in DIVISIONS}
INTERNAL_ACCOUNTS: dict[str, tuple[str, ...]] = {
    d: (INTERNAL_REVENUE_ACCOUNT[d], INTERCHANGE_ACCOUNT[d]) for d in DIVISIONS
}

# --- products (feed product_code) and price items -------------------------------------------------

CARD_PURCHASE = "CARD_PURCHASE"
ATM_CASH = "ATM_CASH"
WIRE_OUT = "WIRE_OUT"
ACH_CREDIT = "ACH_CREDIT"
FX_CONVERSION = "FX_CONVERSION"
CHEQUE_DEPOSIT = "CHEQUE_DEPOSIT"
STOP_PAYMENT = "STOP_PAYMENT"
BAL_INQUIRY = "BAL_INQUIRY"
SAFE_DEPOSIT = "SAFE_DEPOSIT"
GOLD_BULLION = "GOLD_BULLION"

#: Products a normal transaction may use (each has a rule in every division and pricing in
#: every price list). SAFE_DEPOSIT completes only on :data:`SAFE_DEPOSIT_PRICED_ACCOUNTS`.
NORMAL_PRODUCTS: tuple[str, ...] = (
    CARD_PURCHASE, ATM_CASH, WIRE_OUT, ACH_CREDIT, FX_CONVERSION, CHEQUE_DEPOSIT, STOP_PAYMENT,
)
#: Products whose rule has a PARENT_ACCOUNT leg.
PARENT_LEG_PRODUCTS: frozenset[str] = frozenset({WIRE_OUT, ACH_CREDIT})
#: Product whose only leg is priced with ignore_txn = Y: the transaction ends IGNR.
IGNORED_PRODUCT = BAL_INQUIRY
#: Product no derivation rule matches (in any division).
NO_RULE_PRODUCT = GOLD_BULLION
#: Product whose price item (SAFE_DEPOSIT_FEE) is priced only at ACCOUNT scope.
NO_PRICING_PRODUCT = SAFE_DEPOSIT
SAFE_DEPOSIT_PRICED_ACCOUNTS: dict[str, tuple[str, ...]] = {
    "US": ("US-A0002", "US-A0003"),
    "EU": ("EU-A0002", "EU-A0003"),
    "JP": ("JP-A0002",),
}
#: txn_source with a rule of its own (CHEQUE_DEPOSIT from LOCKBOX adds a revenue-share leg).
LOCKBOX_SOURCE = "LOCKBOX"

PRICE_ITEMS: dict[str, str | None] = {  # price item → contract type it needs
    "CARD_TXN_FEE": "CARDS",
    "ATM_WITHDRAWAL_FEE": "CARDS",
    "WIRE_TRANSFER_FEE": "PAYMENTS",
    "ACH_FEE": "PAYMENTS",
    "STOP_PAYMENT_FEE": "PAYMENTS",
    "CHEQUE_DEPOSIT_FEE": "DEPOSITS",
    "SAFE_DEPOSIT_FEE": "DEPOSITS",
    "FX_MARGIN": None,
    "INTERCHANGE_FEE": None,
    "ACCOUNT_MAINT_FEE": None,
    "REVENUE_SHARE": None,
    "BALANCE_INQUIRY_FEE": None,
}

#: A currency that is three letters but not in currencies.csv.
UNKNOWN_CURRENCY = "XAU"

# --- trap accounts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DivisionTraps:
    """Accounts of one division (and the product to use with each) that trigger one error.

    Each account is otherwise valid (OPEN, in dates, contracts, pricing) so that the named
    error is the only one.
    """

    division: str
    unknown_account: str  # not in accounts.csv                     → step 3 account unknown
    other_division_account: str  # a normal account of another division → step 3 other division
    closed_account: str  # status CLOSED (no end date)              → step 3 account CLOSED
    expired_account: str  # OPEN, end_dt 2025-06-30                  → step 3 outside start/end dates
    no_parent_account: str  # top-level, used with WIRE_OUT          → step 3 parent account missing
    no_pricing_account: str  # used with SAFE_DEPOSIT                 → step 6 no pricing
    ambiguous_pricing_account: str  # 2 ACCOUNT rows STOP_PAYMENT_FEE  → step 6 ambiguous pricing
    no_contract_account: str  # no CARDS contract (CARD_PURCHASE)     → step 6 no contract
    inactive_contract_account: str  # only an INACTIVE CARDS contract  → step 6 no contract (inactive)
    two_contracts_account: str  # two ACTIVE CARDS contracts           → step 6 more than one contract
    quarterly_account: str  # ATM_WITHDRAWAL_FEE aggregated QUARTERLY (2025 periods only), ATM_CASH in 2026
    #                                                                   → step 6 no aggregation period
    chf_pricing_account: str  # FX_MARGIN priced in CHF, TXN_AMOUNT (FX_CONVERSION in division currency)
    #                                                                   → step 6 no exchange rate

    @property
    def reference_accounts(self) -> tuple[str, ...]:
        """The trap accounts that exist in accounts.csv (all but unknown and other-division)."""
        return (
            self.closed_account,
            self.expired_account,
            self.no_parent_account,
            self.no_pricing_account,
            self.ambiguous_pricing_account,
            self.no_contract_account,
            self.inactive_contract_account,
            self.two_contracts_account,
            self.quarterly_account,
            self.chf_pricing_account,
        )


_OTHER_DIVISION = {"US": "EU", "EU": "JP", "JP": "US"}

TRAPS: dict[str, DivisionTraps] = {
    d: DivisionTraps(
        division=d,
        unknown_account=f"{d}-A9999",
        other_division_account=account_id(_OTHER_DIVISION[d], 4),
        closed_account=f"{d}-T-CLOSED",
        expired_account=f"{d}-T-EXPIRED",
        no_parent_account=f"{d}-T-NOPARENT",
        no_pricing_account=f"{d}-T-NOPRICE",
        ambiguous_pricing_account=f"{d}-T-AMBIG",
        no_contract_account=f"{d}-T-NOCONTR",
        inactive_contract_account=f"{d}-T-INACTIVE",
        two_contracts_account=f"{d}-T-TWOCONTR",
        quarterly_account=f"{d}-T-QTRAGG",
        chf_pricing_account=f"{d}-T-NORATE",
    )
    for d in DIVISIONS
}

#: Trap dates: the expired account's end date, and the last day the QUARTERLY schedule covers.
EXPIRED_ACCOUNT_END_DT = "2025-06-30"
QUARTERLY_LAST_PERIOD_END = "2025-12-31"

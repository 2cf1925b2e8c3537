"""The golden rating grid: rate type × rating criteria × aggregate flag × ignore flag × same or
other currency × quantities below, on and across tier boundaries, through the real job.

Every amount below is worked out by hand (the arithmetic is in the comments) from the price
models of ``MODELS``; the test only arranges them per rating combination (DESIGN §5 table):
a per-leg amount becomes the leg's calculation and, for non-aggregated ``RITX``, its
charge; ``RITA`` charges carry the hand-written sum of their legs' amounts, ``AGTR`` the
hand-written rating of the total; ``DNRT`` charges carry none, and :func:`rate_charge` — the
rating invoicing will call — must give the same per-leg and total amounts.

Transactions are in USD on 2026-11-05. Other currencies: USD→EUR 0.8, USD→JPY 150 (JPY has
no minor units: conversions and amounts round half-up to whole yen).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal as D

import pytest
from dagster import DagsterInstance
from sqlalchemy import select

from billing.db.schema import bill_chg, currencies, pricing, txn_calc_line, txn_detail, txn_leg
from billing.feeds.inbox import identify
from billing.rating import rate_charge
from billing.reference.loader import load_reference
from jobs.launch import run_aggregation
from tests.world import BUSINESS_DATE, rows, run_feed, write_feed, write_reference


@dataclass(frozen=True)
class Txn:
    amount: str  # USD, as in the feed
    volume: str
    converted: str  # the amount in the pricing currency (TXN_AMOUNT), rounded to its minor units
    rated: str  # rate(q) of the pricing's quantity q, clamped and rounded


@dataclass(frozen=True)
class Model:
    """One price model in one pricing currency, with hand-rated transactions and totals."""

    rate_type: str
    currency: str
    basis: str
    txns: tuple[Txn, ...]
    rita: str  # Σ of the legs' rated amounts
    total_volume: str
    total_amount: str  # Σ of the converted amounts
    agtr: str  # rate(total quantity)

    def quantity(self, txn: Txn) -> str:
        return {"TXN_COUNT": "1", "TXN_VOLUME": txn.volume, "TXN_AMOUNT": txn.converted}[self.basis]

    def total_quantity(self) -> str:
        return {"TXN_COUNT": str(len(self.txns)), "TXN_VOLUME": self.total_volume,
                "TXN_AMOUNT": self.total_amount}[self.basis]


PRICES = {  # rate type → the pricing.csv columns unit_price … max_charge
    "FLAT": dict(unit_price="0.015", min_charge="0.50", max_charge="40"),
    "PERCENT": dict(percent="1.25", max_charge="100"),
    "FIXED": dict(fixed_amount="2.50"),
    "PACKAGE": dict(unit_price="4.25", package_size="10"),
    "TIERED": {},
    "VOLUME": {},
}
TIERS = {  # rate type → (up_to, unit_price, flat_amount)
    "TIERED": [("100", "0.05", "1.00"), ("500", "0.02", ""), ("", "0.01", "3.00")],
    "VOLUME": [("10", "1.00", ""), ("100", "0.80", "2.00"), ("", "0.50", "10.00")],
}

MODELS = [
    # FLAT on TXN_AMOUNT at 0.015, min 0.50, max 40.
    Model("FLAT", "USD", "TXN_AMOUNT", (
        Txn("10.00", "1", "10.00", "0.50"),  # 0.15 → min 0.50
        Txn("43.00", "1", "43.00", "0.65"),  # 0.645 → half-up 0.65
        Txn("3000.00", "1", "3000.00", "40.00"),  # 45.00 → max 40.00
    ), rita="41.15", total_volume="3", total_amount="3053.00", agtr="40.00"),  # 45.795 → max
    Model("FLAT", "EUR", "TXN_AMOUNT", (
        Txn("10.00", "1", "8.00", "0.50"),  # 8.00 EUR × 0.015 = 0.12 → min 0.50
        Txn("43.00", "1", "34.40", "0.52"),  # 0.516 → 0.52
        Txn("3000.00", "1", "2400.00", "36.00"),  # under the max
    ), rita="37.02", total_volume="3", total_amount="2442.40", agtr="36.64"),  # 36.636 → 36.64
    # PERCENT 1.25 % of TXN_AMOUNT, max 100.
    Model("PERCENT", "USD", "TXN_AMOUNT", (
        Txn("10.23", "1", "10.23", "0.13"),  # 0.127875 → 0.13
        Txn("10.23", "1", "10.23", "0.13"),
        Txn("50.00", "1", "50.00", "0.63"),  # 0.625 → half-up 0.63
    ), rita="0.89", total_volume="3", total_amount="70.46", agtr="0.88"),  # 0.88075 → 0.88
    Model("PERCENT", "JPY", "TXN_AMOUNT", (
        Txn("10.23", "1", "1535", "19"),  # 10.23 × 150 = 1534.5 → 1535 yen; × 1.25 % = 19.1875 → 19
        Txn("10.23", "1", "1535", "19"),
        Txn("50.00", "1", "7500", "94"),  # 93.75 → 94
    ), rita="132", total_volume="3", total_amount="10570", agtr="100"),  # 132.125 → max 100
    # FIXED 2.50 a transaction (TXN_COUNT), whatever the quantity.
    Model("FIXED", "USD", "TXN_COUNT", (
        Txn("5.00", "1", "5.00", "2.50"), Txn("6.00", "1", "6.00", "2.50"), Txn("7.00", "1", "7.00", "2.50"),
    ), rita="7.50", total_volume="3", total_amount="18.00", agtr="2.50"),
    Model("FIXED", "EUR", "TXN_COUNT", (
        Txn("5.00", "1", "4.00", "2.50"), Txn("6.00", "1", "4.80", "2.50"), Txn("7.00", "1", "5.60", "2.50"),
    ), rita="7.50", total_volume="3", total_amount="14.40", agtr="2.50"),
    # PACKAGE: packages of 10 TXN_VOLUME at 4.25; a package started is a package paid.
    Model("PACKAGE", "USD", "TXN_VOLUME", (
        Txn("1.00", "9", "1.00", "4.25"),  # below a package: 1
        Txn("1.00", "10", "1.00", "4.25"),  # on it: 1
        Txn("1.00", "10.5", "1.00", "8.50"),  # across: 2
    ), rita="17.00", total_volume="29.5", total_amount="3.00", agtr="12.75"),  # 29.5 → 3 packages
    Model("PACKAGE", "JPY", "TXN_VOLUME", (
        Txn("1.00", "9", "150", "4"),  # 4.25 → 4 yen
        Txn("1.00", "10", "150", "4"),
        Txn("1.00", "10.5", "150", "9"),  # 8.50 → half-up 9
    ), rita="17", total_volume="29.5", total_amount="450", agtr="13"),  # 12.75 → 13
    # TIERED (graduated) on TXN_AMOUNT: ≤ 100 at 0.05 + 1.00 flat; ≤ 500 at 0.02; above at 0.01 + 3.00.
    Model("TIERED", "USD", "TXN_AMOUNT", (
        Txn("60.00", "1", "60.00", "4.00"),  # 3.00 + 1.00
        Txn("100.00", "1", "100.00", "6.00"),  # on the boundary: 5.00 + 1.00, tier 2 not reached
        Txn("100.01", "1", "100.01", "6.00"),  # 6.00 + 0.01 × 0.02 = 6.0002
        Txn("125.00", "1", "125.00", "6.50"),  # 6.00 + 25 × 0.02
        Txn("500.00", "1", "500.00", "14.00"),  # 6.00 + 400 × 0.02, tier 3 not reached
        Txn("750.00", "1", "750.00", "19.50"),  # 14.00 + 250 × 0.01 + 3.00
    ), rita="56.00", total_volume="6", total_amount="1635.01", agtr="28.35"),
    # AGTR: 14.00 + 1135.01 × 0.01 + 3.00 = 28.3501 → 28.35
    Model("TIERED", "EUR", "TXN_AMOUNT", (
        Txn("60.00", "1", "48.00", "3.40"),  # 2.40 + 1.00
        Txn("100.00", "1", "80.00", "5.00"),  # 4.00 + 1.00
        Txn("100.01", "1", "80.01", "5.00"),  # 80.008 → 80.01 EUR; 4.0005 + 1.00 → 5.00
        Txn("125.00", "1", "100.00", "6.00"),  # on the boundary in EUR
        Txn("500.00", "1", "400.00", "12.00"),  # 6.00 + 300 × 0.02
        Txn("750.00", "1", "600.00", "18.00"),  # 14.00 + 100 × 0.01 + 3.00
    ), rita="49.40", total_volume="6", total_amount="1308.01", agtr="25.08"),
    # AGTR: 14.00 + 808.01 × 0.01 + 3.00 = 25.0801 → 25.08
    # VOLUME on TXN_VOLUME: ≤ 10 at 1.00; ≤ 100 at 0.80 + 2.00; above at 0.50 + 10.00.
    Model("VOLUME", "USD", "TXN_VOLUME", (
        Txn("1.00", "5", "1.00", "5.00"),
        Txn("1.00", "10", "1.00", "10.00"),  # on the boundary: first tier
        Txn("1.00", "10.5", "1.00", "10.40"),  # across: 8.40 + 2.00
        Txn("1.00", "100", "1.00", "82.00"),
        Txn("1.00", "150", "1.00", "85.00"),  # 75.00 + 10.00
    ), rita="192.40", total_volume="275.5", total_amount="5.00", agtr="147.75"),  # 137.75 + 10.00
    Model("VOLUME", "JPY", "TXN_VOLUME", (
        Txn("1.00", "5", "150", "5"), Txn("1.00", "10", "150", "10"),
        Txn("1.00", "10.5", "150", "10"),  # 10.40 → 10
        Txn("1.00", "100", "150", "82"), Txn("1.00", "150", "150", "85"),
    ), rita="192", total_volume="275.5", total_amount="750", agtr="148"),  # 147.75 → 148
]

# account → (ignore_txn, aggregate_txn, rating_criteria): every combination DESIGN §5 allows.
COMBINATIONS = {
    "IGN_RITX": ("Y", "N", "RITX"),
    "IGN_AG_RITX": ("Y", "Y", "RITX"),
    "IGN_DNRT": ("Y", "N", "DNRT"),
    "IGN_AG_DNRT": ("Y", "Y", "DNRT"),
    "RITX": ("N", "N", "RITX"),
    "DNRT": ("N", "N", "DNRT"),
    "RITA": ("N", "Y", "RITA"),
    "AGTR": ("N", "Y", "AGTR"),
    "AG_DNRT": ("N", "Y", "DNRT"),
}
TXN_DATE = "2026-11-05"


def _item(model: Model) -> str:
    return f"{model.rate_type}_{model.currency}"


def grid_reference() -> dict[str, str]:
    """Reference files of the grid: one price item (and product code) per model, one account
    per combination, and an ACCOUNT-scope price assignment for every pair."""
    items = [_item(m) for m in MODELS]
    pricing_rows, tier_rows = [], []
    for account, (ignore, aggregate, criteria) in COMBINATIONS.items():
        for model in MODELS:
            pa = f"{account}.{_item(model)}"
            price = {"unit_price": "", "package_size": "", "percent": "", "fixed_amount": "", "min_charge": "",
                     "max_charge": "", **PRICES[model.rate_type]}
            pricing_rows.append(",".join([
                pa, "ACCOUNT", account, _item(model), "", "2025-01-01", "", model.currency, ignore, aggregate,
                criteria, "M" if aggregate == "Y" else "", model.basis, model.rate_type, *price.values()]))
            tier_rows += [f"{pa},{seq},{up_to},{unit},{flat}"
                          for seq, (up_to, unit, flat) in enumerate(TIERS.get(model.rate_type, []), start=1)]
    return {
        "accounts": "account_id,person_id,division_cd,currency_cd,bill_cycle_cd,status,parent_account_id,"
        "price_list_cd,start_dt,end_dt,payment_terms_days,tax_cd,email\n"
        + "".join(f"{a},P1,US,USD,C1,OPEN,,,2025-01-01,,,,\n" for a in COMBINATIONS),
        "contracts": "contract_id,account_id,contract_type,status,start_dt,end_dt\n",
        "price_items": "price_item_cd,description,contract_type\n" + "".join(f"{i},{i} fee,\n" for i in items),
        "pricing": "price_assignment_id,scope,scope_id,price_item_cd,param_value,start_dt,end_dt,currency_cd,"
        "ignore_txn,aggregate_txn,rating_criteria,aggregation_schedule_cd,sqi_basis,rate_type,unit_price,"
        "package_size,percent,fixed_amount,min_charge,max_charge\n" + "".join(r + "\n" for r in pricing_rows),
        "pricing_tiers": "price_assignment_id,tier_seq,up_to,unit_price,flat_amount\n"
        + "".join(r + "\n" for r in tier_rows),
        "derivation_rules": "rule_id,division_cd,txn_source,product_code,channel,priority,start_dt,end_dt\n"
        + "".join(f"R_{i},US,,{i},,10,2025-01-01,\n" for i in items),
        "rule_legs": "rule_id,leg_seq,account_basis,fixed_account_id,price_item_cd,param_source\n"
        + "".join(f"R_{i},1,TXN_ACCOUNT,,{i},\n" for i in items),
        "exchange_rates": "from_currency_cd,to_currency_cd,effective_dt,rate\n"
        "USD,EUR,2026-01-01,0.8\nUSD,JPY,2026-01-01,150\n",
    }


def grid_rows() -> list[str]:
    return [
        f"{account}.{_item(model)}.{n},{TXN_DATE},{account},{_item(model)},USD,{txn.amount},{txn.volume},"
        for account in COMBINATIONS for model in MODELS for n, txn in enumerate(model.txns, start=1)
    ]


def load_grid(engine, folder):
    load_reference(engine, write_reference(folder, grid_reference()))


@pytest.fixture
def grid(engine, billing_home, tmp_path):
    load_grid(engine, tmp_path / "reference")
    header_id, outcome = run_feed(billing_home, write_feed(tmp_path / "drop", "grid", grid_rows()))
    assert outcome.success, outcome.failures
    return engine


def _observed(engine) -> dict[tuple[str, str], dict[str, list]]:
    """Per (account, price item): its legs (status, calc_amount), its charges (aggregated,
    count, volume, amount, charge_amount, rate_charge) and its calculation lines (owner,
    quantity, amount), each in processing order."""
    leg, c, line = txn_leg, bill_chg, txn_calc_line
    found: dict[tuple[str, str], dict[str, list]] = {}

    def add(kind, account, item, *values):  # money columns come back as Decimal on both backends
        found.setdefault((account, item), {"legs": [], "charges": [], "lines": []})[kind].append(values)

    with engine.connect() as conn:
        for account, item, status, calc in conn.execute(
            select(leg.c.account_id, leg.c.price_item_cd, leg.c.status, leg.c.calc_amount).order_by(leg.c.leg_id)
        ):
            add("legs", account, item, status, calc)
        for row in conn.execute(
            select(c.c.account_id, c.c.price_item_cd, c.c.aggregated_sw, c.c.txn_count, c.c.txn_volume,
                   c.c.txn_amount, c.c.charge_amount, rate_charge(c, pricing, currencies.c.minor_units))
            .join(pricing, pricing.c.price_assignment_id == c.c.price_assignment_id)
            .join(currencies, currencies.c.currency_cd == c.c.currency_cd)
            .order_by(c.c.bill_chg_id)
        ):
            add("charges", *row)
        for row in conn.execute(
            select(leg.c.account_id, leg.c.price_item_cd, line.c.quantity, line.c.amount)
            .join(leg, leg.c.leg_id == line.c.leg_id).order_by(leg.c.leg_id)
        ):
            add("lines", row[0], row[1], "leg", *row[2:])
        for row in conn.execute(
            select(c.c.account_id, c.c.price_item_cd, line.c.quantity, line.c.amount)
            .join(c, c.c.bill_chg_id == line.c.bill_chg_id)
        ):
            add("lines", row[0], row[1], "charge", *row[2:])
    return found


def _expected(account: str, model: Model) -> dict[str, list]:
    """What DESIGN §5's table says the combination of ``account`` makes of the model's
    hand-rated transactions."""
    ignore, aggregate, criteria = COMBINATIONS[account]
    txns = model.txns
    own_rating = criteria in ("RITX", "RITA")  # the legs are rated one by one
    n, volume, amount = len(txns), D(model.total_volume), D(model.total_amount)
    if ignore == "Y":
        charges = []
    elif aggregate == "N":  # one charge per leg; a DNRT one is rated only when invoiced
        charges = [("N", 1, D(t.volume), D(t.converted), D(t.rated) if criteria == "RITX" else None, D(t.rated))
                   for t in txns]
    else:  # one aggregated charge; invoicing rates it on its total
        amount_now = {"RITA": D(model.rita), "AGTR": D(model.agtr), "DNRT": None}[criteria]
        charges = [("Y", n, volume, amount, amount_now, D(model.agtr))]
    lines = [("leg", D(model.quantity(t)), D(t.rated)) for t in txns] if own_rating else []
    if criteria == "AGTR":
        lines = [("charge", D(model.total_quantity()), D(model.agtr))]
    status = "IGNR" if ignore == "Y" else "COMP"
    return {"legs": [(status, D(t.rated) if own_rating else None) for t in txns], "charges": charges,
            "lines": lines}


def test_the_golden_grid(grid):
    observed = _observed(grid)
    expected = {(account, _item(model)): _expected(account, model) for account in COMBINATIONS for model in MODELS}
    assert set(observed) == set(expected)
    wrong = {case: {"expected": expected[case], "observed": observed[case]}
             for case in expected if observed[case] != expected[case]}
    assert wrong == {}
    # 46 transactions per account: the 4 ignoring accounts' are IGNR, the 5 others' COMP.
    assert Counter(status for (status,) in rows(grid, txn_detail, "status")) == {"IGNR": 4 * 46, "COMP": 5 * 46}


FIRST = [
    "F1,2026-11-05,AGTR,VOLUME_USD,USD,1.00,5,",
    "F2,2026-11-06,AGTR,VOLUME_USD,USD,1.00,4,",
    "F3,2026-11-05,AGTR,VOLUME_JPY,USD,1.00,5,",
    "F4,2026-11-06,AGTR,VOLUME_JPY,USD,1.00,4,",
    "F5,2026-11-05,RITA,VOLUME_USD,USD,1.00,5,",
    "F6,2026-11-06,RITA,VOLUME_USD,USD,1.00,4,",
    "F7,2026-11-05,AGTR,TIERED_USD,USD,60.00,1,",
]
SECOND = [
    "S1,2026-11-20,AGTR,VOLUME_USD,USD,1.00,2,",
    "S2,2026-11-20,AGTR,VOLUME_JPY,USD,1.00,2,",
    "S3,2026-11-20,RITA,VOLUME_USD,USD,1.00,2,",
    "S4,2026-11-20,AGTR,TIERED_USD,USD,50.00,1,",
]


def _aggregated(engine):
    """(account, price item) → (count, volume, amount, charge_amount, its AGTR line's quantity
    and amount), and the charge ids."""
    c, line = bill_chg, txn_calc_line
    with engine.connect() as conn:
        found = conn.execute(
            select(c.c.account_id, c.c.price_item_cd, c.c.bill_chg_id, c.c.txn_count, c.c.txn_volume,
                   c.c.txn_amount, c.c.charge_amount, line.c.calc_line_id, line.c.quantity, line.c.amount)
            .outerjoin(line, line.c.bill_chg_id == c.c.bill_chg_id)
        ).all()
    return {(a, i): rest for a, i, *rest in found}


def test_a_second_feed_across_a_tier_boundary_moves_the_whole_charge_and_a_rerun_changes_nothing(
        engine, billing_home, tmp_path):
    load_grid(engine, tmp_path / "reference")
    first = write_feed(tmp_path / "drop", "first", FIRST)
    run_feed(billing_home, first)
    after_first = _aggregated(engine)
    ids = {key: value[0] for key, value in after_first.items()}
    assert {key: tuple(value[1:]) for key, value in after_first.items()} == {
        # volume 9 ≤ 10: first tier, 9 × 1.00
        ("AGTR", "VOLUME_USD"): (2, D(9), D("2.00"), D("9.00"), f"C{ids['AGTR', 'VOLUME_USD']}", D(9), D("9.00")),
        ("AGTR", "VOLUME_JPY"): (2, D(9), D(300), D(9), f"C{ids['AGTR', 'VOLUME_JPY']}", D(9), D(9)),
        ("RITA", "VOLUME_USD"): (2, D(9), D("2.00"), D("9.00"), None, None, None),  # 5.00 + 4.00
        ("AGTR", "TIERED_USD"): (1, D(1), D("60.00"), D("4.00"), f"C{ids['AGTR', 'TIERED_USD']}", D("60.00"),
                                 D("4.00")),  # 60 × 0.05 + 1.00
    }
    _, outcome = run_feed(billing_home, write_feed(tmp_path / "drop", "second", SECOND))
    assert outcome.success, outcome.failures
    after_second = _aggregated(engine)
    assert {key: value[0] for key, value in after_second.items()} == ids  # the same charges, grown
    assert {key: tuple(value[1:]) for key, value in after_second.items()} == {
        # volume 11 crosses into the second tier, for the whole charge: 11 × 0.80 + 2.00
        ("AGTR", "VOLUME_USD"): (3, D(11), D("3.00"), D("10.80"), f"C{ids['AGTR', 'VOLUME_USD']}", D(11),
                                 D("10.80")),
        ("AGTR", "VOLUME_JPY"): (3, D(11), D(450), D(11), f"C{ids['AGTR', 'VOLUME_JPY']}", D(11), D(11)),  # 10.80
        ("RITA", "VOLUME_USD"): (3, D(11), D("3.00"), D("11.00"), None, None, None),  # + 2 × 1.00
        # 110.00: 100 × 0.05 + 1.00 + 10 × 0.02 = 6.20
        ("AGTR", "TIERED_USD"): (2, D(2), D("110.00"), D("6.20"), f"C{ids['AGTR', 'TIERED_USD']}", D("110.00"),
                                 D("6.20")),
    }
    rerun = run_aggregation(DagsterInstance.ephemeral(), identify(next(billing_home.archive.glob("*/first.ctl.json"))),
                            BUSINESS_DATE)
    assert rerun.success, rerun.failures
    assert _aggregated(engine) == after_second

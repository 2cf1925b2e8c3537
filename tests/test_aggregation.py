"""The aggregation job end to end on hand-made feeds (tests/world.py explains the world).

Every expected status, leg, charge and SQI below is computed by hand from the world's
reference rows; the comments show the arithmetic.
"""

from datetime import date
from decimal import Decimal as D

import pytest
from dagster import DagsterInstance

from billing.db.schema import bill_chg, rollback_txn, txn_calc_line, txn_detail, txn_header, txn_leg
from billing.feeds.inbox import identify
from jobs.launch import run_aggregation
from tests.world import BUSINESS_DATE, errors, load_world, rows, run_feed, statuses, write_feed

HAPPY_ROWS = [
    "C1,2026-11-03T10:00:00,A1,CARD,USD,100.00,1,BRANCH",
    "C2,2026-11-03T11:00:00,A1,CARD,USD,10.00,1,BRANCH",
    "C3,2026-11-04,A1,CARD,USD,55.55,1,ONLINE",
    "C4,2026-11-04,A2,CARD,USD,20.00,1,BRANCH",
    "W1,2026-11-05,A1,WIRE,USD,1234.56,1,",
    "W2,2026-11-06,A2,WIRE,USD,100.05,1,",
    "W3,2026-11-07,A1,WIRE,USD,0.55,2,",
    "T1,2026-11-08,A1,ATM,USD,200.00,3,",
    "T2,2026-11-09,A1,ATM,USD,40.00,2,",
    "Q1,2026-11-10,A1,CHQ,USD,500.00,4,",
    "X1,2026-11-12,A1,FXT,USD,100.00,1,",
    "X2,2026-11-09,A1,FXT,USD,33.33,1,",
    "I1,2026-11-13,A1,INFO,USD,5.00,1,",
]

# The charges of HAPPY_ROWS, by hand (test_every_rating_criteria_and_scope; tests/test_celery.py too).
HAPPY_CHARGES = [
    # W1 + W3 on A1: RITA rounds each: 1234.56 × 0.001 = 1.23456 → 1.23, 0.55 × 0.001 → 0.00
    ("A1", "ATM_FEE", "", "2026-11-01", "2026-11-30", "Y", "PA_ATM", "USD", 2, D(5), D("240.00"), None),
    # C1: 100.00 × 0.01 = 1.00; C2: 10.00 × 0.01 = 0.10, clamped to min_charge 0.25
    ("A1", "CARD_FEE", "BRANCH", "2026-11-03", "2026-11-03", "N", "PA_CARD", "USD", 1, D(1), D("10.00"), D("0.25")),
    ("A1", "CARD_FEE", "BRANCH", "2026-11-03", "2026-11-03", "N", "PA_CARD", "USD", 1, D(1), D("100.00"), D("1.00")),
    # C3: channel ONLINE picks the param-specific row: TXN_COUNT × 0.30
    ("A1", "CARD_FEE", "ONLINE", "2026-11-04", "2026-11-04", "N", "PA_CARD_ONLINE", "USD", 1, D(1), D("55.55"),
     D("0.30")),
    # Q1: non-aggregated DNRT: quantities, no amount
    ("A1", "CHQ_FEE", "", "2026-11-10", "2026-11-10", "N", "PA_CHQ", "USD", 1, D(4), D("500.00"), None),
    # X2 on 11-09: 33.33 USD × 0.9 = 29.997 → 30.00 EUR, × 0.01 = 0.30
    ("A1", "FX_FEE", "", "2026-11-09", "2026-11-09", "N", "PA_FX", "EUR", 1, D(1), D("30.00"), D("0.30")),
    # X1 on 11-12: the 0.8 rate of 11-10 applies: 80.00 EUR × 0.01 = 0.80
    ("A1", "FX_FEE", "", "2026-11-12", "2026-11-12", "N", "PA_FX", "EUR", 1, D(1), D("80.00"), D("0.80")),
    ("A1", "WIRE_FEE", "", "2026-11-01", "2026-11-30", "Y", "PA_WIRE", "USD", 2, D(3), D("1235.11"), D("1.23")),
    # C4 on A2: the ACCOUNT scope row (DNRT) beats the price list
    ("A2", "CARD_FEE", "BRANCH", "2026-11-04", "2026-11-04", "N", "PA_CARD_A2", "USD", 1, D(1), D("20.00"), None),
    ("A2", "WIRE_FEE", "", "2026-11-01", "2026-11-30", "Y", "PA_WIRE", "USD", 1, D(1), D("100.05"), D("0.10")),
    # W1, W2, W3 bill PARENT1; its person P1 has a PERSON row (0.10) beating the list's 9: AGTR 3 × 0.10
    ("PARENT1", "WIRE_PARENT", "", "2026-11-01", "2026-11-30", "Y", "PA_WIRE_P1", "USD", 3, D(4), D("1335.16"),
     D("0.30")),
]

CHARGE_COLUMNS = ("account_id", "price_item_cd", "param_value", "start_dt", "end_dt", "aggregated_sw",
                  "price_assignment_id", "currency_cd", "txn_count", "txn_volume", "txn_amount", "charge_amount")


def _charges(engine):
    found = rows(engine, bill_chg, *CHARGE_COLUMNS, order_by=[bill_chg.c.account_id, bill_chg.c.price_item_cd,
                                                               bill_chg.c.start_dt, bill_chg.c.param_value,
                                                               bill_chg.c.txn_amount])
    return [(a, p, pv, str(s), str(e), ag, pa, cur, n, D(v), D(amt), None if c is None else D(c))
            for a, p, pv, s, e, ag, pa, cur, n, v, amt, c in found]


@pytest.fixture
def world(engine, billing_home, tmp_path):
    load_world(engine, tmp_path / "reference")
    return engine


def test_every_rating_criteria_and_scope(world, billing_home, tmp_path):
    header_id, outcome = run_feed(billing_home, write_feed(tmp_path / "drop", "happy", HAPPY_ROWS))
    assert outcome.success, outcome.failures
    assert rows(world, txn_header, "status", where=txn_header.c.header_id == header_id) == [("VALI",)]
    expected_status = {key: "COMP" for key in ("C1", "C2", "C3", "C4", "W1", "W2", "W3", "T1", "T2", "Q1", "X1", "X2")}
    expected_status["I1"] = "IGNR"  # INFO_FEE pricing ignores it
    assert statuses(world, header_id) == expected_status
    assert errors(world, header_id) == {"I1": ["IGNORED"]}
    assert rows(world, rollback_txn, "status") == [("IGNR",)]

    assert _charges(world) == HAPPY_CHARGES
    # The INTERCHANGE legs of FEES are IGNR with their RITX calculation kept (× 0.002).
    assert [(status, D(calc)) for status, calc in rows(
        world, txn_leg, "status", "calc_amount", where=txn_leg.c.price_item_cd == "INTERCHANGE",
        order_by=[txn_leg.c.leg_id])] == [("IGNR", D("0.20")), ("IGNR", D("0.02")), ("IGNR", D("0.11")),
                                          ("IGNR", D("0.04"))]
    legs = dict(rows(world, txn_leg, "status", "leg_id", order_by=[txn_leg.c.status]))
    assert set(legs) == {"COMP", "IGNR"}
    # Calculation lines: one per RITX / RITA leg (the ignored ones too), one per AGTR charge.
    lines = rows(world, txn_calc_line, "price_assignment_id", "quantity", "amount", "leg_id", "bill_chg_id")
    assert sorted((pa, D(q), D(a), leg is not None, charge is not None) for pa, q, a, leg, charge in lines) == [
        ("PA_CARD", D("10.00"), D("0.25"), True, False),
        ("PA_CARD", D("100.00"), D("1.00"), True, False),
        ("PA_CARD_ONLINE", D(1), D("0.30"), True, False),
        ("PA_FX", D("30.00"), D("0.30"), True, False),
        ("PA_FX", D("80.00"), D("0.80"), True, False),
        ("PA_INTER", D("10.00"), D("0.02"), True, False),
        ("PA_INTER", D("20.00"), D("0.04"), True, False),
        ("PA_INTER", D("55.55"), D("0.11"), True, False),
        ("PA_INTER", D("100.00"), D("0.20"), True, False),
        ("PA_WIRE", D("0.55"), D("0.00"), True, False),
        ("PA_WIRE", D("100.05"), D("0.10"), True, False),
        ("PA_WIRE", D("1234.56"), D("1.23"), True, False),
        ("PA_WIRE_P1", D(3), D("0.30"), False, True),  # the AGTR charge: 3 transactions × 0.10
    ]


def test_a_second_feed_adds_to_the_open_aggregated_charges(world, billing_home, tmp_path):
    run_feed(billing_home, write_feed(tmp_path / "drop", "first", HAPPY_ROWS))
    before = dict(((a, p), i) for a, p, i in rows(world, bill_chg, "account_id", "price_item_cd", "bill_chg_id",
                                                  where=bill_chg.c.aggregated_sw == "Y"))
    _, outcome = run_feed(billing_home, write_feed(tmp_path / "drop", "second",
                                                   ["W4,2026-11-15,A1,WIRE,USD,10.00,1,"]))
    assert outcome.success, outcome.failures
    wire = [c for c in _charges(world) if c[1] in ("WIRE_FEE", "WIRE_PARENT")]
    assert wire == [
        # 1.23 + round(10.00 × 0.001 = 0.01) = 1.24
        ("A1", "WIRE_FEE", "", "2026-11-01", "2026-11-30", "Y", "PA_WIRE", "USD", 3, D(4), D("1245.11"), D("1.24")),
        ("A2", "WIRE_FEE", "", "2026-11-01", "2026-11-30", "Y", "PA_WIRE", "USD", 1, D(1), D("100.05"), D("0.10")),
        # AGTR recomputed on the total: 4 × 0.10
        ("PARENT1", "WIRE_PARENT", "", "2026-11-01", "2026-11-30", "Y", "PA_WIRE_P1", "USD", 4, D(5), D("1345.16"),
         D("0.40")),
    ]
    after = dict(((a, p), i) for a, p, i in rows(world, bill_chg, "account_id", "price_item_cd", "bill_chg_id",
                                                 where=bill_chg.c.aggregated_sw == "Y"))
    assert after == before  # the same charges, not new ones


ERROR_ROWS = [
    "E01,2026-11-05,ZZZ,CARD,USD,1.00,1,BRANCH",
    "E02,2026-11-05,EU1,CARD,USD,1.00,1,BRANCH",
    "E03,2026-11-05,CLOSED1,CARD,USD,1.00,1,BRANCH",
    "E04,2026-11-05,EXPIRED1,CARD,USD,1.00,1,BRANCH",
    "E05,2026-11-05,A1,CARD,XAU,1.00,1,BRANCH",
    "E06,2026-11-05,A1,NORULE,USD,1.00,1,",
    "E07,2026-11-05,ORPHAN,WIRE,USD,1.00,1,",
    "E08,2026-11-05,A1,MISC,USD,1.00,1,",
    "E09,2026-11-05,AMB,CARD,USD,1.00,1,BRANCH",
    "E10,2026-11-05,NOCON,CARD,USD,1.00,1,BRANCH",
    "E11,2026-11-05,INACT,CARD,USD,1.00,1,BRANCH",
    "E12,2026-11-05,TWOCON,CARD,USD,1.00,1,BRANCH",
    "E13,2026-10-15,A1,WIRE,USD,1.00,1,",
    "E14,2025-12-15,A1,FXT,USD,1.00,1,",
    "OK1,2026-11-10,A1,CHQ,USD,500.00,4,",
    "V1,2026-02-30,A1,CARD,USD,1.00,1,BRANCH",
    "V2,2026-11-05,A1,CARD,USD,abc,1,BRANCH",
    "V3,2026-11-05,A1,CARD,USD,1.00,x,BRANCH",
    "V4,2026-11-05,,CARD,USD,1.00,1,BRANCH",
    "V5,2026-11-05,A1,CARD,US,1.00,1,BRANCH",
    "OK1,2026-11-11,A1,CHQ,USD,1.00,1,",
    "V6,2026-11-05,A1,CARD",
    "F1,2026-11-25,A1,CHQ,USD,7.00,1,",
]


def test_every_error_reason(world, billing_home, tmp_path):
    control = write_feed(tmp_path / "drop", "errors", ERROR_ROWS)
    header_id, outcome = run_feed(billing_home, control)
    assert outcome.success, outcome.failures
    found = statuses(world, header_id)
    # OK1 appears twice: the first completes, the repeat (row 21) is INVL; the dict keeps the later one.
    assert found == {
        **{f"E{n:02d}": "EROR" for n in range(1, 15)},
        "OK1": "INVL",
        **{f"V{n}": "INVL" for n in range(1, 6)},
        "row 22": "INVL",  # V6 has 4 fields instead of 8: kept as raw text only
        "F1": "UPLD",  # dated after the business date: waits in staging
    }
    assert rows(world, txn_leg, "status", where=txn_leg.c.price_item_cd == "CHQ_FEE") == [("COMP",)]
    assert errors(world, header_id) == {
        "E01": ["ACCOUNT_UNKNOWN"],
        "E02": ["ACCOUNT_OTHER_DIVISION"],
        "E03": ["ACCOUNT_CLOSED"],
        "E04": ["ACCOUNT_NOT_EFFECTIVE"],
        "E05": ["CURRENCY_UNKNOWN"],
        "E06": ["NO_DERIVATION_RULE"],
        "E07": ["PARENT_ACCOUNT_MISSING"],
        "E08": ["NO_PRICING"],
        "E09": ["AMBIGUOUS_PRICING"],
        "E10": ["NO_CONTRACT"],
        "E11": ["CONTRACT_INACTIVE"],
        "E12": ["MULTIPLE_CONTRACTS"],
        "E13": ["NO_AGGREGATION_PERIOD", "NO_AGGREGATION_PERIOD"],
        "E14": ["NO_EXCHANGE_RATE"],
    }
    assert len(rows(world, rollback_txn, "txn_id")) == 14
    # E09's second leg (INTERCHANGE of FEES) is IGNR, its CARD leg EROR: no charge for either.
    assert rows(world, bill_chg, "price_item_cd", "txn_amount") == [("CHQ_FEE", D("500.00"))]
    # The IGNR INTERCHANGE legs of E09–E12 were rated (RITX), but their transactions are EROR:
    # completion drops their calculations, as the seed's C1-TXNCM does.
    assert rows(world, txn_leg, "status", "calc_amount", where=txn_leg.c.price_item_cd == "INTERCHANGE") == [
        ("IGNR", None)] * 4
    assert rows(world, txn_calc_line, "calc_line_id") == []
    messages = {external_id or f"row {row_no}": message for external_id, row_no, message in rows(
        world, txn_detail, "external_txn_id", "row_no", "message", order_by=[txn_detail.c.row_no])}
    assert "account ZZZ is unknown" in messages["E01"]
    assert "row 16" in messages["V1"] and "2026-02-30" in messages["V1"]
    assert "row 22: row has 4 fields, the header has 8" in messages["row 22"]
    assert "row 21: external_txn_id OK1 repeats row 15 of the feed" in messages["OK1"]


def test_a_later_business_date_processes_the_waiting_transactions(world, billing_home, tmp_path):
    control = write_feed(tmp_path / "drop", "later", ["Q1,2026-11-10,A1,CHQ,USD,5.00,1,",
                                                      "Q2,2026-11-25,A1,CHQ,USD,7.00,2,"])
    header_id, _ = run_feed(billing_home, control)
    assert statuses(world, header_id) == {"Q1": "COMP", "Q2": "UPLD"}
    feed = identify(billing_home.archive / header_id / "later.ctl.json")
    outcome = run_aggregation(DagsterInstance.ephemeral(), feed, date(2026, 11, 30))
    assert outcome.success, outcome.failures
    assert statuses(world, header_id) == {"Q1": "COMP", "Q2": "COMP"}
    assert BUSINESS_DATE.isoformat() == "2026-11-21"


def test_every_rate_type(world, billing_home, tmp_path):
    rated = [
        "G1,2026-11-03,A1,TIER,USD,50.00,1,",  # 50 × 0.02 + 1.00 = 2.00
        "G2,2026-11-03,A1,TIER,USD,100.00,1,",  # 100 × 0.02 + 1.00 = 3.00 (second tier not reached)
        "G3,2026-11-03,A1,TIER,USD,100.01,1,",  # 3.00 + 0.01 × 0.01 = 3.0001 → 3.00
        "G4,2026-11-03,A1,TIER,USD,1500.00,1,",  # 3.00 + 900 × 0.01 + (500 × 0.005 + 2.00) = 16.50
        "P1,2026-11-04,A1,PCT,USD,200.00,1,",  # 1.5 % = 3.00
        "P2,2026-11-04,A1,PCT,USD,1000.00,1,",  # 15.00, max_charge 10 → 10.00
        "F1,2026-11-05,A1,FIXF,USD,123.45,7,",  # 2.50
        "K1,2026-11-06,A1,PKG,USD,1.00,10,",  # one package of 10 → 4.00
        "K2,2026-11-06,A1,PKG,USD,1.00,11,",  # a package started is a package paid: 2 → 8.00
        "U1,2026-11-07,A1,VOLP,USD,1.00,1,",
        "U2,2026-11-08,A1,VOLP,USD,1.00,1,",  # count 2 → first tier: 2 × 1.00 = 2.00
    ]
    _, outcome = run_feed(billing_home, write_feed(tmp_path / "drop", "rated", rated))
    assert outcome.success, outcome.failures

    def amounts(price_item):  # by quantity (sorted here: SQLite keeps decimals as text)
        found = rows(world, bill_chg, "txn_amount", "txn_volume", "charge_amount",
                     where=bill_chg.c.price_item_cd == price_item)
        return [D(charge) for _, _, charge in sorted(found, key=lambda r: (D(r[0]), D(r[1])))]

    assert amounts("TIER_FEE") == [D("2.00"), D("3.00"), D("3.00"), D("16.50")]
    assert amounts("PCT_FEE") == [D("3.00"), D("10.00")]
    assert amounts("FIX_FEE") == [D("2.50")]
    assert amounts("PKG_FEE") == [D("4.00"), D("8.00")]
    assert amounts("VOL_FEE") == [D("2.00")]
    run_feed(billing_home, write_feed(tmp_path / "drop", "more", ["U3,2026-11-09,A1,VOLP,USD,1.00,1,"]))
    assert amounts("VOL_FEE") == [D("6.50")]  # count 3 → second tier: 3 × 0.50 + 5.00

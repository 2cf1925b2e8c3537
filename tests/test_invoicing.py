"""DoInvoicing and finalize_billing on hand-made charges; every bill below is worked out by hand.

Accounts (division US in USD unless said): M1 closes on the 1st, VAT, 14 days to pay; MID
opened mid-cycle on 2026-02-10, GST; CL1 is CLOSED (still gets its final bill); NOCH has no
charge (no bill); F28 closes on the 28th (a 28-day February); JP1 in division JP closes on
the 15th in JPY (no minor units). VAT is 10 % from 2026-01-01 and 12.5 % from 2026-02-15;
GST 7 %. EUR→USD 1.10 from 2026-01-01 and 1.20 from 2026-02-20; USD→JPY 150.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from sqlalchemy import insert

from billing.db.schema import bill, bill_chg, bill_segment, exchange_rates, id_allocator
from billing.invoicing.bill_run import BillWindow, bill_window, create_bills
from billing.invoicing.finalize import finalize_bills
from billing.reference.loader import load_reference
from tests.world import rows, write_reference

HEADERS = {
    "accounts": "account_id,person_id,division_cd,currency_cd,bill_cycle_cd,status,parent_account_id,price_list_cd,"
    "start_dt,end_dt,payment_terms_days,tax_cd,email\n",
    "pricing": "price_assignment_id,scope,scope_id,price_item_cd,param_value,start_dt,end_dt,currency_cd,ignore_txn,"
    "aggregate_txn,rating_criteria,aggregation_schedule_cd,sqi_basis,rate_type,unit_price,package_size,percent,"
    "fixed_amount,min_charge,max_charge\n",
}
INVOICING_REFERENCE = {
    "divisions": "division_cd,name,currency_cd,processing_date_basis,default_price_list_cd\n"
    "US,United States,USD,TXN_DATE,STD\nJP,Japan,JPY,TXN_DATE,JPSTD\n",
    "bill_cycles": "bill_cycle_cd,close_day\nC1,1\nC15,15\nC28,28\n",
    "accounts": HEADERS["accounts"] + """M1,P1,US,USD,C1,OPEN,,,2025-01-01,,14,VAT,m1@example.com
MID,P1,US,USD,C1,OPEN,,,2026-02-10,,,GST,
CL1,P2,US,USD,C1,CLOSED,,,2025-01-01,2026-02-15,,,
NOCH,P2,US,USD,C1,OPEN,,,2025-01-01,,,,
F28,P2,US,USD,C28,OPEN,,,2025-01-01,,,,
JP1,P2,JP,JPY,C15,OPEN,,,2025-01-01,,10,,
""",
    "contracts": "contract_id,account_id,contract_type,status,start_dt,end_dt\n",
    "pricing": HEADERS["pricing"] + "PA_DNRT,ACCOUNT,M1,ATM_FEE,,2025-01-01,,USD,N,Y,DNRT,M,TXN_COUNT,FLAT,0.25,,,,,\n",
    "pricing_tiers": "price_assignment_id,tier_seq,up_to,unit_price,flat_amount\n",
    "derivation_rules": "rule_id,division_cd,txn_source,product_code,channel,priority,start_dt,end_dt\n",
    "rule_legs": "rule_id,leg_seq,account_basis,fixed_account_id,price_item_cd,param_source\n",
    "tax_rates": "tax_cd,effective_dt,rate_percent\nVAT,2026-01-01,10.00\nVAT,2026-02-15,12.50\nGST,2026-01-01,7\n",
    "exchange_rates": "from_currency_cd,to_currency_cd,effective_dt,rate\n"
    "EUR,USD,2026-01-01,1.10\nEUR,USD,2026-02-20,1.20\nUSD,JPY,2026-01-01,150\n",
}


def _charge(charge_id, account, end, amount, currency="USD", status="BILLABLE", criteria=None, pa=None, count=1):
    return {"bill_chg_id": charge_id, "account_id": account, "price_item_cd": "ATM_FEE", "param_value": "",
            "start_dt": end, "end_dt": end, "status": status, "aggregated_sw": "N" if pa is None else "Y",
            "price_assignment_id": pa, "rating_criteria": criteria, "currency_cd": currency, "txn_count": count,
            "txn_volume": D(count), "txn_amount": D(0) if amount is None else amount, "charge_amount": amount,
            "source": "TFM" if pa else "ADJUSTMENT"}


CHARGES = [
    _charge(1, "M1", date(2026, 2, 5), D("10.00")),
    _charge(2, "M1", date(2026, 2, 28), D("5.55")),  # on the window's last day
    _charge(3, "M1", date(2026, 3, 1), D("7.00")),  # after the window: the next bill
    _charge(4, "M1", date(2026, 2, 10), D("3.33"), currency="EUR"),
    _charge(5, "M1", date(2026, 2, 25), None, criteria="DNRT", pa="PA_DNRT", count=7),
    _charge(6, "M1", date(2026, 1, 20), D("2.00")),  # late charge of an earlier window
    _charge(7, "M1", date(2026, 2, 6), D("99.00"), status="CANCELED"),
    _charge(8, "M1", date(2026, 1, 15), D("50.00")),  # already on the February bill
    _charge(11, "MID", date(2026, 2, 12), D("100.00")),
    _charge(12, "MID", date(2026, 2, 27), D("0.05")),
    _charge(21, "CL1", date(2026, 2, 1), D("12.34")),
    _charge(31, "F28", date(2026, 2, 27), D("1.00")),
    _charge(32, "F28", date(2026, 2, 28), D("2.00")),
    _charge(41, "JP1", date(2026, 3, 1), D("10.23")),
    _charge(42, "JP1", date(2026, 3, 14), D(500), currency="JPY"),
]


@pytest.fixture
def billing_world(engine, tmp_path):
    load_reference(engine, write_reference(tmp_path / "reference", INVOICING_REFERENCE))
    with engine.begin() as conn:
        conn.execute(insert(bill_chg), CHARGES)
        conn.execute(insert(id_allocator).values(name="bill_chg_id", next_id=100))  # charges made here come after
        conn.execute(insert(bill).values(
            bill_id="FEB-M1", account_id="M1", bill_dt=date(2026, 2, 1), window_start=date(2026, 1, 1),
            window_end=date(2026, 1, 31), status="COMPLETE", subtotal=D(50), tax_amount=D(5), total_amount=D(55)))
        conn.execute(insert(bill_segment).values(bseg_id="FEB-M1-8", bill_id="FEB-M1", bill_chg_id=8,
                                                 status="FROZEN", amount=D(50)))
    return engine


BILL_COLUMNS = ("account_id", "bill_dt", "window_start", "window_end", "status", "due_dt", "invoice_number",
                "subtotal", "tax_amount", "total_amount", "currency_cd", "tax_rate_percent")


def _bills(engine, bill_dt):
    return {r[0]: r[1:] for r in rows(engine, bill, *BILL_COLUMNS, where=bill.c.bill_dt == bill_dt)}


def test_windows_of_bill_dates():
    assert bill_window(date(2026, 3, 1)) == BillWindow(date(2026, 3, 1), date(2026, 2, 1), date(2026, 2, 28))
    assert bill_window(date(2026, 2, 28)) == BillWindow(date(2026, 2, 28), date(2026, 1, 28), date(2026, 2, 27))
    assert bill_window(date(2026, 1, 15)) == BillWindow(date(2026, 1, 15), date(2025, 12, 15), date(2026, 1, 14))


def test_bills_of_the_first_of_march(billing_world):
    with billing_world.begin() as conn:
        assert create_bills(conn, date(2026, 3, 1)) == {"bills_created": 3, "segments": 8, "segments_in_error": 0,
                                                        "bills_rebuilt": 0}
    march = date(2026, 3, 1)
    assert _bills(billing_world, march) == {
        # 10.00 + 5.55 + 3.33 EUR × 1.20 (rate of 02-20) = 3.996 → 4.00 + DNRT 7 × 0.25 = 1.75 + late 2.00
        # = 23.30; VAT of 03-01 is 12.5 %: 2.9125 → 2.91; due 14 days later
        "M1": (march, date(2026, 2, 1), date(2026, 2, 28), "PENDING", date(2026, 3, 15), None,
               D("23.30"), D("2.91"), D("26.21"), "USD", D("12.50")),
        # opened mid-cycle: its charges only; GST 7 % of 100.05 = 7.0035 → 7.00; 30 days by default
        "MID": (march, date(2026, 2, 1), date(2026, 2, 28), "PENDING", date(2026, 3, 31), None,
                D("100.05"), D("7.00"), D("107.05"), "USD", D(7)),
        # CLOSED, final bill, no tax code: no tax
        "CL1": (march, date(2026, 2, 1), date(2026, 2, 28), "PENDING", date(2026, 3, 31), None,
                D("12.34"), D(0), D("12.34"), "USD", None),
    }
    segments = {charge: (status, amount, rate) for charge, status, amount, rate in rows(
        billing_world, bill_segment, "bill_chg_id", "status", "amount", "exchange_rate",
        where=bill_segment.c.bill_id != "FEB-M1")}
    assert segments == {
        1: ("FREEZABLE", D("10.00"), D(1)), 2: ("FREEZABLE", D("5.55"), D(1)),
        4: ("FREEZABLE", D("4.00"), D("1.20")), 5: ("FREEZABLE", D("1.75"), D(1)),
        6: ("FREEZABLE", D("2.00"), D(1)), 11: ("FREEZABLE", D("100.00"), D(1)),
        12: ("FREEZABLE", D("0.05"), D(1)), 21: ("FREEZABLE", D("12.34"), D(1)),
    }


def _close(engine, day, review_days=0):
    with engine.begin() as conn:
        created = create_bills(conn, day)
        completed = finalize_bills(conn, day, review_days)
    return created["bills_created"], completed["bills_completed"]


def test_closing_days_in_order_numbers_invoices_without_gaps(billing_world):
    days = [date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 15), date(2026, 3, 28)]
    assert [_close(billing_world, day) for day in days] == [(1, 1), (3, 3), (1, 1), (1, 1)]
    found = {(account, bill_dt): (number, status, total, due) for account, bill_dt, number, status, total, due in rows(
        billing_world, bill, "account_id", "bill_dt", "invoice_number", "status", "total_amount", "due_dt",
        where=bill.c.bill_id != "FEB-M1")}
    assert found == {
        # 28-day February: window 01-28 … 02-27 holds charge 31 only; 30 days to pay
        ("F28", date(2026, 2, 28)): ("US-2026-000001", "COMPLETE", D("1.00"), date(2026, 3, 30)),
        # numbered in (bill_dt, account_id) order
        ("CL1", date(2026, 3, 1)): ("US-2026-000002", "COMPLETE", D("12.34"), date(2026, 3, 31)),
        ("M1", date(2026, 3, 1)): ("US-2026-000003", "COMPLETE", D("26.21"), date(2026, 3, 15)),
        ("MID", date(2026, 3, 1)): ("US-2026-000004", "COMPLETE", D("107.05"), date(2026, 3, 31)),
        # JPY: 10.23 USD × 150 = 1534.5 → 1535 yen, + 500 yen; a division of its own
        ("JP1", date(2026, 3, 15)): ("JP-2026-000001", "COMPLETE", D(2035), date(2026, 3, 25)),
        # charge 32 ended on 02-28, after F28's February window: billed on 03-28
        ("F28", date(2026, 3, 28)): ("US-2026-000005", "COMPLETE", D("2.00"), date(2026, 4, 27)),
    }
    assert {status for (status,) in rows(billing_world, bill_segment, "status")} == {"FROZEN"}
    before = rows(billing_world, bill, *BILL_COLUMNS)
    assert [_close(billing_world, day) for day in days] == [(0, 0)] * 4  # re-running bills nobody twice
    assert rows(billing_world, bill, *BILL_COLUMNS) == before


def test_a_review_period_delays_completion(billing_world):
    assert _close(billing_world, date(2026, 3, 1), review_days=2) == (3, 0)
    assert _close(billing_world, date(2026, 3, 2), review_days=2) == (0, 0)
    assert _close(billing_world, date(2026, 3, 3), review_days=2) == (0, 3)
    assert {r[3] for r in _bills(billing_world, date(2026, 3, 1)).values()} == {"COMPLETE"}


def test_a_segment_that_cannot_be_valued_holds_its_bill(billing_world):
    with billing_world.begin() as conn:
        conn.execute(insert(bill_chg), [_charge(51, "NOCH", date(2026, 2, 3), D("8.00"), currency="GBP")])
    assert _close(billing_world, date(2026, 3, 1)) == (4, 3)
    [(status, amount, message)] = rows(billing_world, bill_segment, "status", "amount", "message",
                                       where=bill_segment.c.bill_chg_id == 51)
    assert (status, amount) == ("ERROR", None)
    assert message == ("no exchange rate from GBP to the account currency effective on 2026-03-01: load one, then "
                       "run the close of day of 2026-03-01 again")
    [(bill_status, subtotal, bill_message)] = rows(billing_world, bill, "status", "subtotal", "message",
                                                   where=bill.c.account_id == "NOCH")
    assert (bill_status, subtotal) == ("PENDING", D(0))
    assert "not finalized until they are fixed" in bill_message

    with billing_world.begin() as conn:  # the operator loads the missing rate and runs the day again
        conn.execute(insert(exchange_rates).values(from_currency_cd="GBP", to_currency_cd="USD",
                                                   effective_dt=date(2026, 2, 1), rate=D("1.2655")))
    assert _close(billing_world, date(2026, 3, 1)) == (1, 1)  # only NOCH is billed again
    # 8.00 GBP × 1.2655 = 10.124 → 10.12 USD; no tax code
    [(bill_status, total, number)] = rows(billing_world, bill, "status", "total_amount", "invoice_number",
                                          where=bill.c.account_id == "NOCH")
    assert (bill_status, total, number) == ("COMPLETE", D("10.12"), "US-2026-000004")

"""A hand-made world for the close-of-day steps; every expected value in the tests is worked
out by hand from these rows.

Division US in USD; bill cycle C1 closes on the 1st; persons P1 (p1@example.com) and P2 (no
e-mail). VAT is 10 % from 2026-01-01, 12 % from 2026-03-10, 15 % from 2026-04-01; GST 7 %.
Service definition OLD stopped on 2026-03-01; NEW has no end.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from pathlib import Path

from sqlalchemy import Engine, insert, update

from billing.db.engine import allocate_ids
from billing.db.schema import accounts, bill, bill_chg, bill_segment, credit_note
from billing.reference.loader import load_reference

ACCOUNT_HEADER = ("account_id,person_id,division_cd,currency_cd,bill_cycle_cd,status,parent_account_id,price_list_cd,"
                  "start_dt,end_dt,payment_terms_days,tax_cd,email\n")
SERVICE_HEADER = ("service_id,account_id,service_cd,description,status,start_dt,end_dt,bill_period,price,next_bill_dt,"
                  "discount_percent,discount_expires_dt,reopen_dt\n")
BASE = {
    "currencies": "currency_cd,minor_units\nUSD,2\n",
    "divisions": "division_cd,name,currency_cd,processing_date_basis,default_price_list_cd\nUS,United States,USD,"
                 "TXN_DATE,STD\n",
    "persons": "person_id,name,email\nP1,Pat One,p1@example.com\nP2,Pat Two,\n",
    "bill_cycles": "bill_cycle_cd,close_day\nC1,1\n",
    "tax_rates": "tax_cd,effective_dt,rate_percent\nVAT,2026-01-01,10\nVAT,2026-03-10,12\nVAT,2026-04-01,15\n"
                 "GST,2026-01-01,7\n",
    "service_definitions": "service_cd,description,end_dt\nOLD,Legacy plan,2026-03-01\nNEW,Current plan,\n",
}


def load(engine: Engine, folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in {**BASE, **files}.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    load_reference(engine, folder)


def completed_bill(conn, bill_id: str, account: str, bill_dt: date, due_dt: date, total: D,
                   charged: bool = True) -> None:
    """A COMPLETE bill of ``total`` (no tax), on one ADJUSTMENT charge unless ``charged`` is False."""
    conn.execute(insert(bill).values(
        bill_id=bill_id, account_id=account, bill_dt=bill_dt, window_start=bill_dt, window_end=bill_dt,
        status="COMPLETE", due_dt=due_dt, invoice_number=f"US-2026-{bill_id}", subtotal=total, tax_amount=D(0),
        total_amount=total, division_cd="US", currency_cd="USD", completed_dt=bill_dt))
    if charged:
        _charge_on_bill(conn, bill_id, account, total, bill_dt, source="ADJUSTMENT")


def credit(conn, bill_id: str, amount: D, on: date) -> None:
    conn.execute(insert(credit_note).values(credit_note_id=f"CN-{bill_id}", bill_id=bill_id,
                                            credit_number=f"US-CN-2026-{bill_id}", credit_dt=on, amount=amount,
                                            reason="test"))


def recurring_charge_on_bill(conn, service_id: str, account: str, amount: D, bill_id: str) -> None:
    _charge_on_bill(conn, bill_id, account, amount, date(2026, 2, 1), source="RECURRING", service_id=service_id,
                    period_start=date(2026, 2, 1), period_end=date(2026, 2, 28))


def _charge_on_bill(conn, bill_id: str, account: str, amount: D, day: date, **extra) -> None:
    charge_id = allocate_ids(conn, "bill_chg_id", 1)
    conn.execute(insert(bill_chg).values(
        bill_chg_id=charge_id, account_id=account, price_item_cd="NEW", param_value="", start_dt=day, end_dt=day,
        status="BILLABLE", aggregated_sw="N", currency_cd="USD", txn_count=0, txn_volume=D(0), txn_amount=D(0),
        charge_amount=amount, **extra))
    conn.execute(insert(bill_segment).values(bseg_id=f"{bill_id}-{charge_id}", bill_id=bill_id,
                                             bill_chg_id=charge_id, status="FROZEN", amount=amount))


def mark(conn, table, key, **values) -> None:
    column = table.c.account_id if table is accounts else table.c.service_id
    conn.execute(update(table).where(column == key).values(**values))


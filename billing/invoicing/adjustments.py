"""Adjustments and credit notes: what an operator changes on an account's billing by hand.

* ``billing adjust ACCOUNT AMOUNT --reason …``: a credit (negative) or debit (positive)
  ``ADJUSTMENT`` charge in the account's currency, dated the business day, that the next bill
  picks up like any other charge.
* ``billing bill cancel BILL_ID``: a ``COMPLETE`` bill is cancelled by a credit note of its
  total (numbered ``{division}-CN-{year}-{000001}``, gap-free per division and year); its
  segments become ``CANCELED``, so disaggregation can re-rate their charges.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Connection, insert, select, update

from billing.db.engine import allocate_ids
from billing.db.schema import accounts, bill, bill_chg, bill_segment, credit_note, currencies
from billing.errors import BillingError
from billing.invoicing.finalize import INVOICE_DIGITS


def add_adjustment(conn: Connection, account_id: str, amount: Decimal, reason: str, day: date) -> int:
    """Record the adjustment as a billable charge; return its ``bill_chg_id``."""
    found = conn.execute(
        select(accounts.c.currency_cd, currencies.c.minor_units)
        .join(currencies, currencies.c.currency_cd == accounts.c.currency_cd)
        .where(accounts.c.account_id == account_id)
    ).first()
    if found is None:
        raise BillingError(f"account {account_id} is unknown: check the id, or load it with `billing reference load`")
    currency, minor_units = found
    if amount == 0:
        raise BillingError("an adjustment of 0 changes nothing: give a positive amount (debit) or negative (credit)")
    if amount != amount.quantize(Decimal(1).scaleb(-minor_units)):
        raise BillingError(f"{amount} has more decimals than {currency} allows ({minor_units})")
    if not reason.strip():
        raise BillingError("an adjustment needs a reason (--reason), which the invoice shows")
    charge_id = allocate_ids(conn, "bill_chg_id", 1)
    conn.execute(insert(bill_chg).values(
        bill_chg_id=charge_id, account_id=account_id, param_value="", start_dt=day, end_dt=day, status="BILLABLE",
        aggregated_sw="N", currency_cd=currency, txn_count=0, txn_volume=Decimal(0), txn_amount=Decimal(0),
        charge_amount=amount, source="ADJUSTMENT", description=reason.strip(),
    ))
    return charge_id


def cancel_bill(conn: Connection, bill_id: str, reason: str, day: date) -> str:
    """Cancel a completed bill with a credit note; return the credit note's number."""
    found = conn.execute(select(bill).where(bill.c.bill_id == bill_id)).first()
    if found is None:
        raise BillingError(f"bill {bill_id} is unknown")
    if found.status != "COMPLETE":
        raise BillingError(f"bill {bill_id} is {found.status}, not COMPLETE: only a final bill is cancelled by a "
                           f"credit note")
    existing = conn.execute(select(credit_note.c.credit_number).where(credit_note.c.bill_id == bill_id)).scalar()
    if existing is not None:
        raise BillingError(f"bill {bill_id} ({found.invoice_number}) is already cancelled by credit note {existing}")
    number = allocate_ids(conn, f"credit:{found.division_cd}:{day.year}", 1)
    credit_number = f"{found.division_cd}-CN-{day.year}-{number:0{INVOICE_DIGITS}d}"
    conn.execute(insert(credit_note).values(
        credit_note_id=credit_number, bill_id=bill_id, credit_number=credit_number, credit_dt=day,
        amount=found.total_amount, reason=reason.strip() or f"cancellation of invoice {found.invoice_number}"))
    conn.execute(update(bill_segment).where(bill_segment.c.bill_id == bill_id).values(status="CANCELED"))
    return credit_number

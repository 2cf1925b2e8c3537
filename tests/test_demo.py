"""The demo's feeds over the shipped sample reference data: every row ends in the status its
kind calls for, with the right reason, and `billing demo` runs end to end."""

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance
from sqlalchemy import select

from billing.db.engine import make_engine
from billing.db.schema import bill, bill_chg, txn_detail, txn_detail_excp, txn_detail_stg
from billing.demo.catalog import SAMPLE_REFERENCE_DIR
from billing.demo.feeds import generate_rows, write_feed
from billing.reference.loader import load_reference
from tests.test_definitions import CLOSEOFDAY_CHAIN
from tests.world import run_feed

EXPECTED = {
    "normal": ("COMP", None),
    "invl_bad_datetime": ("INVL", None),
    "invl_bad_amount": ("INVL", None),
    "invl_bad_volume": ("INVL", None),
    "invl_missing_account": ("INVL", None),
    "invl_bad_currency": ("INVL", None),
    "invl_duplicate_external_id": ("INVL", None),
    "invl_wrong_field_count": ("INVL", None),
    "eror_unknown_account": ("EROR", "ACCOUNT_UNKNOWN"),
    "eror_other_division": ("EROR", "ACCOUNT_OTHER_DIVISION"),
    "eror_closed_account": ("EROR", "ACCOUNT_CLOSED"),
    "eror_account_dates": ("EROR", "ACCOUNT_NOT_EFFECTIVE"),
    "eror_unknown_currency": ("EROR", "CURRENCY_UNKNOWN"),
    "eror_no_rule": ("EROR", "NO_DERIVATION_RULE"),
    "eror_parent_missing": ("EROR", "PARENT_ACCOUNT_MISSING"),
    "eror_no_pricing": ("EROR", "NO_PRICING"),
    "eror_ambiguous_pricing": ("EROR", "AMBIGUOUS_PRICING"),
    "eror_no_contract": ("EROR", "NO_CONTRACT"),
    "eror_inactive_contract": ("EROR", "CONTRACT_INACTIVE"),
    "eror_two_contracts": ("EROR", "MULTIPLE_CONTRACTS"),
    "eror_no_aggregation_period": ("EROR", "NO_AGGREGATION_PERIOD"),
    "eror_no_exchange_rate": ("EROR", "NO_EXCHANGE_RATE"),
    "ignr_ignored_pricing": ("IGNR", "IGNORED"),
}
FEED = dict(external_header_id="T-1", division="US", n=400, seed=11, bad_fraction=0.1,
            txn_dates=(date(2026, 10, 21), date(2026, 11, 20)))


def test_every_demo_row_ends_as_its_kind_says(engine, billing_home, tmp_path):
    load_reference(engine, SAMPLE_REFERENCE_DIR)
    _, control = write_feed(tmp_path, "demo", source="BANKA", header_date=date(2026, 11, 20), **FEED)
    header_id, outcome = run_feed(billing_home, control)
    assert outcome.success, outcome.failures
    with engine.connect() as conn:
        found = {row_no: status for table in (txn_detail, txn_detail_stg) for row_no, status in conn.execute(
            select(table.c.row_no, table.c.status).where(table.c.header_id == header_id))}
        codes: dict[int, set[str]] = {}
        for row_no, code in conn.execute(
            select(txn_detail.c.row_no, txn_detail_excp.c.error_code)
            .join(txn_detail_excp, txn_detail_excp.c.txn_id == txn_detail.c.txn_id)
            .where(txn_detail.c.header_id == header_id)
        ):
            codes.setdefault(row_no, set()).add(code)
    kinds = [row.kind for row in generate_rows(**FEED)]
    assert set(kinds) == set(EXPECTED)  # every kind is in the feed
    for row_no, kind in enumerate(kinds, start=1):
        status, code = EXPECTED[kind]
        assert found[row_no] == status, (row_no, kind)
        if code:
            assert code in codes[row_no], (row_no, kind, codes.get(row_no))


# The main job is defined on the embedded default (README: "runs the main job on the embedded
# default"), and it closes a month of days (~100 s): it runs on SQLite only.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_billing_demo_runs_end_to_end(billing_home):
    done = subprocess.run(
        [str(Path(sys.executable).parent / "billing"), "demo", "--feeds", "1", "--rows", "300"],
        capture_output=True, text=True, env={**os.environ}, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "feeds:        VALI 1" in done.stdout
    assert "run " in done.stdout and " succeeded" in done.stdout
    # The demo closes a month, day by day (2026-10-22 … 2026-11-21): every bill cycle bills its
    # accounts on its day, the bills completed and sent: by e-mail, or to the print queue
    # without an address; the sample services are billed on their next bill dates.
    closed = [line.split(":")[0] for line in done.stdout.splitlines() if line.startswith("close of day")]
    assert closed == [f"close of day {date(2026, 10, 22) + timedelta(days=n)}" for n in range(31)]
    with make_engine(os.environ["BILLING_DATABASE_URL"]).connect() as conn:
        bills = conn.execute(select(bill.c.status, bill.c.invoice_number, bill.c.total_amount)).all()
        bill_days = set(conn.execute(select(bill.c.bill_dt).distinct()).scalars())
        recurring = conn.execute(select(bill_chg.c.service_id, bill_chg.c.period_start)
                                 .where(bill_chg.c.source == "RECURRING")).all()
    assert bills and {status for status, _, _ in bills} == {"COMPLETE"}
    assert bill_days <= {date(2026, 10, 28), date(2026, 11, 1), date(2026, 11, 15), date(2026, 11, 21)}
    assert date(2026, 11, 21) in bill_days
    # S-0001/4/6 from 11-01, S-0002/5 from 11-15 (a partial period: to 11-30), nothing due yet for S-0003/7
    assert sorted(recurring) == [("S-0001", date(2026, 11, 1)), ("S-0002", date(2026, 11, 15)),
                                 ("S-0004", date(2026, 11, 1)), ("S-0005", date(2026, 11, 15)),
                                 ("S-0006", date(2026, 11, 1))]
    # What the UI shows: each close-of-day asset materialized for each of the 31 daily partitions.
    instance = DagsterInstance.get()
    month = {(date(2026, 10, 22) + timedelta(days=n)).isoformat() for n in range(31)}
    for step in CLOSEOFDAY_CHAIN:
        assert instance.get_materialized_partitions(AssetKey(step)) == month, step
    sent = [path.stem for folder in (billing_home.outbox, billing_home.outbox / "print")
            for path in folder.glob("*.eml")]
    assert sorted(sent) == sorted(number for _, number, _ in bills)

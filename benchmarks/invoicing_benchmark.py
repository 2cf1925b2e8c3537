"""Bills per second of a close of day that bills N accounts.

    python benchmarks/invoicing_benchmark.py --accounts 50000
    python benchmarks/invoicing_benchmark.py --accounts 50000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/billing_bench

Builds a fresh billing database (SQLite in a temporary folder by default; a PostgreSQL
database is created when missing and its ``public`` schema is dropped and recreated), loads
``sample_data/reference``, adds N accounts of bill cycle C01 (USD, tax US-NY, each with an
e-mail address), K billable charges each (every tenth in EUR, converted on the bill) and one
monthly service each (9.99, due on the day), then runs the real ``closeofday_job`` for
2026-11-01 on an ephemeral Dagster instance, the way ``billing closeofday`` does: dbck, the
lifecycle, BillServices (N recurring charges), balances, late fees, overdue, the bill run,
notices, statistics, finalization (invoice numbers), documents rendered and written as
``.eml`` files to the outbox (PDFs only with ``--pdf``), the day logged. Prints seconds and
bills per second per step, the job's wall time and peak memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks._shared import maxrss_mib, prepare_postgres, print_steps, step_times  # noqa: E402

REFERENCE = REPO_ROOT / "sample_data" / "reference"
BILL_DATE = date(2026, 11, 1)
FIRST_CHARGE_ID = 10_000_000


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=50_000, help="accounts billed (default 50000)")
    parser.add_argument("--charges", type=int, default=5, help="billable charges per account (default 5)")
    parser.add_argument("--database-url", default=None,
                        help="billing database (default: a SQLite file in a temporary folder); a PostgreSQL "
                        "database is created if missing and its public schema is DROPPED and recreated")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (database, outbox)")
    parser.add_argument("--pdf", action="store_true",
                        help="also render each invoice to PDF (weasyprint; about 0.1 s a document)")
    return parser.parse_args(argv)


def _accounts(n: int) -> pd.DataFrame:
    ids = [f"BENCH-{i:07d}" for i in range(1, n + 1)]
    return pd.DataFrame({
        "account_id": ids, "person_id": "P0001", "division_cd": "US", "currency_cd": "USD", "bill_cycle_cd": "C01",
        "status": "OPEN", "start_dt": "2025-01-01", "tax_cd": "US-NY",
        "email": [f"{i.lower()}@example.com" for i in ids],
    })


def _services(accounts: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "service_id": "SVC-" + accounts["account_id"], "account_id": accounts["account_id"],
        "service_cd": "BENCH_PLAN", "status": "OPEN", "start_dt": "2025-01-01", "bill_period": "MONTHLY",
        "price": "9.99", "next_bill_dt": "2026-11-01",
    })


def _charges(accounts: pd.DataFrame, per_account: int) -> pd.DataFrame:
    n = len(accounts) * per_account
    numbers = pd.RangeIndex(n)
    frame = pd.DataFrame({
        "bill_chg_id": FIRST_CHARGE_ID + numbers,
        "account_id": accounts["account_id"].repeat(per_account).to_numpy(),
        "price_item_cd": "BENCH_FEE",
        "param_value": "",
        "start_dt": "2026-10-05",
        "end_dt": "2026-10-25",
        "status": "BILLABLE",
        "aggregated_sw": "N",
        "currency_cd": ["EUR" if i % 10 == 0 else "USD" for i in numbers],
        "txn_count": 1,
        "txn_volume": "1",
        "txn_amount": [str(Decimal(100 + i % 900) / 100) for i in numbers],
        "source": "TFM",
    })
    frame["charge_amount"] = frame["txn_amount"]
    return frame


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="billing-invoicing-bench-"))
    url = args.database_url or f"sqlite:///{workdir / 'billing.db'}"
    os.environ["BILLING_HOME"] = str(workdir / "home")
    os.environ["DAGSTER_HOME"] = str(workdir / "dagster")
    os.environ["BILLING_DATABASE_URL"] = url
    os.environ.pop("BILLING_SMTP_HOST", None)  # documents go to the outbox
    os.environ["BILLING_PDF"] = "Y" if args.pdf else "N"
    (workdir / "dagster").mkdir()
    try:
        from dagster import DagsterInstance
        from sqlalchemy import insert
        from sqlalchemy.engine import make_url

        from billing.db.bulk import analyze, bulk_insert
        from billing.db.engine import make_engine
        from billing.db.migrate import upgrade
        from billing.db.schema import accounts, bill_chg, id_allocator, services
        from billing.invoicing.report import bill_totals
        from billing.reference.loader import load_reference
        from jobs.launch import run_closeofday

        kind = make_url(url).get_backend_name()
        if kind == "postgresql":
            prepare_postgres(url)
        engine = make_engine(url)
        upgrade(engine)
        load_reference(engine, REFERENCE)
        started = time.perf_counter()
        frame = _accounts(args.accounts)
        charges = _charges(frame, args.charges)
        with engine.begin() as conn:
            bulk_insert(conn, accounts, frame)
            bulk_insert(conn, services, _services(frame))
            bulk_insert(conn, bill_chg, charges)
            conn.execute(insert(id_allocator).values(name="bill_chg_id", next_id=FIRST_CHARGE_ID + len(charges)))
            analyze(conn, accounts)
            analyze(conn, services)
            analyze(conn, bill_chg)
        setup_s = time.perf_counter() - started

        instance = DagsterInstance.ephemeral()
        started = time.perf_counter()
        outcome = run_closeofday(instance, BILL_DATE)
        job_s = time.perf_counter() - started
        steps = step_times(instance, outcome.run_id)
        with engine.connect() as conn:
            totals = bill_totals(conn, BILL_DATE)
        engine.dispose()
        bills = sum(entry["bills"] for entry in totals.values())

        print()
        print(f"database        {kind} ({make_url(url).render_as_string(hide_password=True)})")
        print(f"accounts        {args.accounts:,} (bill cycle C01), {len(charges):,} charges "
              f"({args.charges} each, every tenth in EUR), {args.accounts:,} services; set up in {setup_s:.2f} s")
        print()
        print_steps(steps, bills, "bills/s", job_s, outcome)
        print()
        for key, entry in totals.items():
            print(f"bills {key:<13} {entry['bills']:>8,}  total {entry['total']}")
        print(f"peak memory     {maxrss_mib(resource.RUSAGE_SELF):.0f} MiB")
        return 0 if outcome.success else 1
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""Sixty days of close of day (2026-01-01 … 2026-03-01) through `billing closeofday` and the
real Dagster instance, e-mail through a real SMTP server on loopback: run as a catch-up, run
again, and run day by day in a second database with the payments arriving on their dates —
the same state every way, no charge, fee or e-mail twice.

The world (no tax; bill cycle closing on the 1st; 14 days to pay; late fee 2 % five days
after the due date; suspension ten days after it):

* K1: KS1 30.00 a month, 50 % off until 2026-02-01 → January 15.00, February 30.00; pays
  its February invoice on 02-10;
* K2: KS2 31.00 a month starts on 01-16 → 16/31 of January = 16.00, then 31.00; pays on 02-14;
* K3: KS3 20.00 a month ends on 02-10 → January 20.00, February 1st–10th = 20 × 10/28 =
  7.142… → 7.14; warned 14 days before (01-27), SUSPENDED (EXPIRED) on 02-10; pays on 02-14;
* K4: KS4 50.00 a month, never pays: February invoice 50.00 due 02-15, a late fee of 1.00 on
  02-21, SUSPENDED (OVERDUE) with KS4 on 02-26, so KS4's March is not billed;
* K5: KS5 40.00 a month, pays its February invoice on 02-27: late fee 0.80 on 02-21,
  SUSPENDED on 02-26, OPEN again on 02-27, March billed;
* K7: KS7 25.00 a month WAITING FOR PAYMENT: its January is billed on 01-01 and invoiced
  on 02-01; paid on 02-05, the service opens that day and is billed from that day — the
  days it waited are not billed: 02-05 … 02-28 = 25 × 24/28 = 21.428… → 21.43, billed the
  next day (OpenWaitForPaymentServices comes after BillServices).

Charges are dated the day they are billed, so the bill of 02-01 (window January) holds
January's recurring charges and the bill of 03-01 February's and the late fees.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from click.testing import CliRunner

from billing.cli import main
from billing.db.change_tracking import STAMP
from billing.db.schema import accounts, bill, bill_chg, notice, services
from billing.payments.intake import load_payment_file
from tests.closeofday_world import ACCOUNT_HEADER, SERVICE_HEADER, load
from tests.conftest import BACKENDS
from tests.corrections import billing_state, twin_database
from tests.mail import smtp_server  # noqa: F401  (the fixture)
from tests.world import rows

FIRST, LAST = date(2026, 1, 1), date(2026, 3, 1)
WORLD = {
    "accounts": ACCOUNT_HEADER + "".join(
        f"{k},P1,US,USD,C1,OPEN,,,2025-01-01,,14,,{k.lower()}@example.com\n" for k in ("K1", "K2", "K3", "K5", "K7"))
    + "K4,P2,US,USD,C1,OPEN,,,2025-01-01,,14,,\n",
    "services": SERVICE_HEADER + """KS1,K1,NEW,Fibre,OPEN,2025-12-01,,MONTHLY,30.00,2026-01-01,50,2026-02-01,
KS2,K2,NEW,TV,PROSPECTIVE,2026-01-16,,MONTHLY,31.00,,,,
KS3,K3,NEW,Trial,OPEN,2025-12-01,2026-02-10,MONTHLY,20.00,2026-01-01,,,
KS4,K4,NEW,Phone,OPEN,2025-12-01,,MONTHLY,50.00,2026-01-01,,,
KS5,K5,NEW,Line,OPEN,2025-12-01,,MONTHLY,40.00,2026-01-01,,,
KS7,K7,NEW,Box,WAIT_FOR_PAYMENT,2026-01-01,,MONTHLY,25.00,,,,
""",
}
POLICY = """late_fee: {kind: PERCENT, percent: '2', grace_days: 5}
suspend_overdue_after_days: 10
"""
PAYMENTS = {  # file name → (arrival day, rows)
    "bank-0205.csv": (date(2026, 2, 5), "K7,25.00,2026-02-05,P-K7-1\n"),
    "bank-0210.csv": (date(2026, 2, 10), "K1,15.00,2026-02-10,P-K1-1\n"),
    "bank-0214.csv": (date(2026, 2, 14), "K2,16.00,2026-02-14,P-K2-1\nK3,20.00,2026-02-14,P-K3-1\n"),
    "bank-0227.csv": (date(2026, 2, 27), "K5,40.00,2026-02-27,P-K5-1\n"),
}


def _close(*args):
    result = CliRunner().invoke(main, ["closeofday", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def _pay(engine, paths, names):
    folder = paths.inbox / "payments"
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("account_id,amount,payment_dt,reference\n" + PAYMENTS[name][1], encoding="utf-8")
        assert load_payment_file(engine, paths, folder / name).rejected == 0


def _state(engine):
    state = billing_state(engine)
    for table in (accounts, services):  # their dates too; not the change stamp, which the twin cannot repeat
        state[table.name] = rows(engine, table, *[c.name for c in table.c if c.name != STAMP])
    return state


@pytest.fixture
def world(engine, billing_home, tmp_path, monkeypatch):
    monkeypatch.setenv("BILLING_PDF", "N")
    (billing_home.home / "closeofday.yaml").write_text(POLICY, encoding="utf-8")
    load(engine, tmp_path / "reference", WORLD)
    return engine


# 125 close-of-day runs cost ~1.6 s each in Dagster's own bookkeeping: the simulation runs once,
# on PostgreSQL when the tests have it (CI), else on SQLite; the steps themselves are tested on
# both backends in test_closeofday_steps.py.
@pytest.mark.parametrize("db_url", BACKENDS[-1:], indirect=True)
def test_sixty_days_caught_up_run_again_and_day_by_day_end_alike(world, billing_home, smtp_server, db_url,  # noqa: F811
                                                                  tmp_path, monkeypatch):
    _pay(world, billing_home, PAYMENTS)  # every payment known before the catch-up
    _close("--date", FIRST.isoformat())
    caught_up = _close("--through", LAST.isoformat())
    assert caught_up.output.count("closed. Bills dated") == 59
    _assert_the_sixty_days(world)
    mails = sorted(m["Message-ID"] for m in smtp_server.messages)
    # 12 invoices (K4's two have no address: print queue) and one notice
    assert len(mails) == len(set(mails)) == 11
    state = _state(world)

    # Run again: every day re-run changes nothing and sends nothing.
    assert _close("--through", LAST.isoformat()).output == \
        f"nothing to close: every day through {LAST} is closed\n"
    for day in (FIRST, date(2026, 2, 1), date(2026, 2, 21), date(2026, 2, 26), LAST):
        _close("--date", day.isoformat())
    new = _state(world)
    for k in state:
        if new[k] != state[k]:
            print("RERUN", k, [r for r in new[k] if r not in state[k]], [r for r in state[k] if r not in new[k]])
    assert _state(world) == state
    assert len(smtp_server.messages) == 11

    # Day by day in a second database, each payment file arriving on its day.
    twin = twin_database(db_url, tmp_path, monkeypatch)
    load(twin, tmp_path / "reference-twin", WORLD)
    day = FIRST
    while day <= LAST:
        _pay(twin, billing_home, [name for name, (arrival, _) in PAYMENTS.items() if arrival == day])
        _close("--date", day.isoformat())
        day += timedelta(days=1)
    new = _state(twin)
    for k in state:
        if new[k] != state[k]:
            print("TWIN", k, [r for r in new[k] if r not in state[k]], [r for r in state[k] if r not in new[k]])
    assert _state(twin) == state
    assert len(smtp_server.messages) == 22  # the twin's own 11, once each
    twin.dispose()


def _assert_the_sixty_days(engine):
    totals = rows(engine, bill, "bill_dt", "account_id", "total_amount", "status", order_by=[bill.c.bill_dt,
                                                                                            bill.c.account_id])
    feb, mar = date(2026, 2, 1), date(2026, 3, 1)
    assert totals == [
        (feb, "K1", D("15.00"), "COMPLETE"), (feb, "K2", D("16.00"), "COMPLETE"), (feb, "K3", D("20.00"), "COMPLETE"),
        (feb, "K4", D("50.00"), "COMPLETE"), (feb, "K5", D("40.00"), "COMPLETE"), (feb, "K7", D("25.00"), "COMPLETE"),
        (mar, "K1", D("30.00"), "COMPLETE"), (mar, "K2", D("31.00"), "COMPLETE"), (mar, "K3", D("7.14"), "COMPLETE"),
        (mar, "K4", D("51.00"), "COMPLETE"), (mar, "K5", D("40.80"), "COMPLETE"), (mar, "K7", D("21.43"), "COMPLETE"),
    ]
    assert rows(engine, bill_chg, "account_id", "start_dt", "charge_amount", where=bill_chg.c.source == "LATE_FEE") \
        == [("K4", date(2026, 2, 21), D("1.00")), ("K5", date(2026, 2, 21), D("0.80"))]
    recurring = rows(engine, bill_chg, "service_id", "period_start", "start_dt", where=bill_chg.c.source == "RECURRING",
                     order_by=[bill_chg.c.service_id, bill_chg.c.period_start])
    assert recurring == [
        ("KS1", date(2026, 1, 1), date(2026, 1, 1)), ("KS1", date(2026, 2, 1), date(2026, 2, 1)),
        ("KS1", date(2026, 3, 1), date(2026, 3, 1)),
        ("KS2", date(2026, 1, 16), date(2026, 1, 16)), ("KS2", date(2026, 2, 1), date(2026, 2, 1)),
        ("KS2", date(2026, 3, 1), date(2026, 3, 1)),
        ("KS3", date(2026, 1, 1), date(2026, 1, 1)), ("KS3", date(2026, 2, 1), date(2026, 2, 1)),
        ("KS4", date(2026, 1, 1), date(2026, 1, 1)), ("KS4", date(2026, 2, 1), date(2026, 2, 1)),
        ("KS5", date(2026, 1, 1), date(2026, 1, 1)), ("KS5", date(2026, 2, 1), date(2026, 2, 1)),
        ("KS5", date(2026, 3, 1), date(2026, 3, 1)),
        ("KS7", date(2026, 1, 1), date(2026, 1, 1)), ("KS7", date(2026, 2, 5), date(2026, 2, 6)),
        ("KS7", date(2026, 3, 1), date(2026, 3, 1)),
    ]
    assert rows(engine, services, "service_id", "status", "status_reason", "status_dt") == [
        ("KS1", "OPEN", None, None), ("KS2", "OPEN", "FUTURE_START", date(2026, 1, 16)),
        ("KS3", "SUSPENDED", "EXPIRED", date(2026, 2, 10)), ("KS4", "SUSPENDED", "OVERDUE", date(2026, 2, 26)),
        ("KS5", "OPEN", "PAID", date(2026, 2, 27)), ("KS7", "OPEN", "PAID", date(2026, 2, 5))]
    assert rows(engine, accounts, "account_id", "status", "status_reason") == [
        ("K1", "OPEN", None), ("K2", "OPEN", None), ("K3", "OPEN", None), ("K4", "SUSPENDED", "OVERDUE"),
        ("K5", "OPEN", "PAID"), ("K7", "OPEN", None)]
    assert rows(engine, notice, "notice_id", "business_dt") == [
        ("SERVICE_EXPIRATION:KS3:2026-02-10", date(2026, 1, 27))]

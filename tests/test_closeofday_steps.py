"""Each close-of-day step on a hand-built day (2026-03-10) of accounts, services, bills and
payments, on SQLite and PostgreSQL; the expected state after the day is worked out by hand
in the comments. Every day is run twice: the second run changes nothing."""

from __future__ import annotations

import csv
import gzip
import os
from datetime import date, datetime
from decimal import Decimal as D
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from billing.closeofday import balances, housekeeping, lifecycle, overdue
from billing.closeofday.dbck import SEVERE, WARNINGS, findings
from billing.closeofday.notices import create_notices, send_notices
from billing.closeofday.policy import CloseOfDayPolicy, LateFeePolicy, load_policy
from billing.closeofday.recurring import bill_services, calendar_period, period_charge
from billing.db.schema import (
    account_payment_info,
    accounts,
    bill,
    bill_chg,
    daily_statistic,
    notice,
    payment,
    service_definitions,
    services,
    tax_rate_in_effect,
)
from billing.errors import BillingError
from billing.notify import OutboxNotifier
from billing.payments.intake import file_id, load_payment_file
from billing.settings import BillingPaths
from tests.closeofday_world import (
    ACCOUNT_HEADER,
    SERVICE_HEADER,
    completed_bill,
    credit,
    load,
    mark,
    recurring_charge_on_bill,
)
from tests.world import rows

DAY = date(2026, 3, 10)


# --- 1. UpdateTaxRates and the lifecycle; 2. BillServices ----------------------------------------------------------

LIFECYCLE = {
    "accounts": ACCOUNT_HEADER + """A1,P1,US,USD,C1,OPEN,,,2025-01-01,,14,VAT,a1@example.com
A2,P2,US,USD,C1,OPEN,,,2025-01-01,2026-03-10,,,
A3,P2,US,USD,C1,SUSPENDED,,,2025-01-01,,,,
A4,P2,US,USD,C1,SUSPENDED,,,2025-01-01,,,,
""",
    "services": SERVICE_HEADER + """S1,A1,NEW,Fibre,PROSPECTIVE,2026-03-10,,MONTHLY,31.00,,,,
S2,A1,NEW,TV,OPEN,2026-01-01,,MONTHLY,10.00,2026-03-01,20,2026-03-31,
S3,A1,NEW,Support,OPEN,2026-01-01,,QUARTERLY,90.00,2026-04-01,,,
S4,A1,NEW,Phone,SUSPENDED,2026-01-01,,MONTHLY,62.00,2026-03-15,,,2026-03-10
S5,A1,NEW,Trial,OPEN,2026-01-01,2026-03-10,MONTHLY,10.00,2026-04-01,,,
S6,A2,NEW,Line,OPEN,2026-01-01,,MONTHLY,5.00,2026-04-01,,,
S7,A1,OLD,Legacy,PROSPECTIVE,2026-03-05,,MONTHLY,5.00,,,,
S8,A3,NEW,Old line,SUSPENDED,2025-01-01,,MONTHLY,5.00,,,,
S9,A4,NEW,Paused,SUSPENDED,2025-01-01,,MONTHLY,5.00,,,,
S10,A1,NEW,Promo,OPEN,2026-01-01,,MONTHLY,12.00,2026-05-01,50,2026-03-10,
S11,A1,NEW,Ending,OPEN,2026-01-01,2026-04-15,MONTHLY,30.00,2026-04-01,,,
""",
}


@pytest.fixture
def lifecycle_world(engine, tmp_path):
    load(engine, tmp_path / "reference", LIFECYCLE)
    with engine.begin() as conn:
        mark(conn, accounts, "A3", status_reason="EXPIRED", status_dt=date(2025, 12, 10))  # 90 days before DAY
        mark(conn, accounts, "A4", status_reason="EXPIRED", status_dt=date(2025, 12, 11))  # 89 days
        mark(conn, services, "S8", status_reason="EXPIRED", status_dt=date(2026, 1, 1))
        mark(conn, services, "S9", status_reason="EXPIRED", status_dt=date(2025, 12, 11))
    return engine


def _lifecycle_day(engine, policy):
    with engine.begin() as conn:
        taxes = lifecycle.update_tax_rates(conn, DAY)
        counts = lifecycle.run_lifecycle(conn, DAY, policy)
        billed = bill_services(conn, DAY, policy.prebill_days)
    return taxes, counts, billed


SERVICES_AFTER = [
    # id, status, reason, next bill date, discount, discount expiry, reopen date
    ("S1", "OPEN", "FUTURE_START", date(2026, 4, 1), None, None, None),
    ("S10", "OPEN", None, date(2026, 5, 1), None, None, None),  # discount expired on the day: cleared
    ("S11", "OPEN", None, date(2026, 4, 16), None, None, None),  # its last (partial) period billed
    ("S2", "OPEN", None, date(2026, 4, 1), D(20), date(2026, 3, 31), None),
    ("S3", "OPEN", None, date(2026, 7, 1), None, None, None),
    ("S4", "OPEN", "REOPEN_DATE", date(2026, 4, 1), None, None, None),
    ("S5", "SUSPENDED", "EXPIRED", date(2026, 4, 1), None, None, None),
    ("S6", "SUSPENDED", "ACCOUNT_NOT_OPEN", date(2026, 4, 1), None, None, None),
    ("S7", "CLOSED", "SERVICE_DEFINITION_ENDED", None, None, None, None),
    ("S8", "CLOSED", "ACCOUNT_CLOSED", None, None, None, None),
    ("S9", "SUSPENDED", "EXPIRED", None, None, None, None),  # 89 days suspended: not yet closed
]
RECURRING_AFTER = [
    # service, period, amount — all dated DAY
    ("S1", date(2026, 3, 10), date(2026, 3, 31), D("22.00")),  # started mid-month: 31.00 × 22/31
    ("S11", date(2026, 4, 1), date(2026, 4, 15), D("15.00")),  # ends mid-April: 30.00 × 15/30 (pre-billed)
    ("S2", date(2026, 3, 1), date(2026, 3, 31), D("8.00")),  # 10.00 less 20 %
    ("S3", date(2026, 4, 1), date(2026, 6, 30), D("90.00")),  # quarter, pre-billed 22 days ahead
    ("S4", date(2026, 3, 15), date(2026, 3, 31), D("34.00")),  # reopened, from its next bill date: 62 × 17/31
]


def test_tax_rates_lifecycle_and_recurring_charges_of_a_day(lifecycle_world):
    policy = CloseOfDayPolicy(prebill_days=25)
    taxes, counts, billed = _lifecycle_day(lifecycle_world, policy)
    assert taxes == 2  # VAT 12 % (effective on the day) and GST 7 %
    assert counts == {"OpenFutureStartdateServices": 1, "services_refused_definition_ended": 1,
                      "OpenDateToReOpenEntities": 1, "SuspendExpiredAccounts": 1, "CloseSuspendedAccounts": 1,
                      "SuspendExpiredServices": 2, "CloseSuspendedServices": 1, "SuspendExpiredServdefs": 1,
                      "ClearDiscounts": 1}
    assert billed == 5
    _assert_lifecycle_state(lifecycle_world)

    assert _lifecycle_day(lifecycle_world, policy) == (0, dict.fromkeys(counts, 0), 0)  # the day again
    _assert_lifecycle_state(lifecycle_world)


def _assert_lifecycle_state(engine):
    assert rows(engine, tax_rate_in_effect, "tax_cd", "rate_percent", "applied_dt") == [
        ("GST", D(7), DAY), ("VAT", D(12), DAY)]
    assert rows(engine, accounts, "account_id", "status", "status_reason", "status_dt") == [
        ("A1", "OPEN", None, None), ("A2", "SUSPENDED", "EXPIRED", DAY), ("A3", "CLOSED", "LONG_SUSPENDED", DAY),
        ("A4", "SUSPENDED", "EXPIRED", date(2025, 12, 11))]
    assert rows(engine, services, "service_id", "status", "status_reason", "next_bill_dt", "discount_percent",
                "discount_expires_dt", "reopen_dt") == SERVICES_AFTER
    assert rows(engine, service_definitions, "service_cd", "status") == [("NEW", "OPEN"), ("OLD", "NO_NEW")]
    assert rows(engine, bill_chg, "service_id", "period_start", "period_end", "charge_amount",
                where=bill_chg.c.source == "RECURRING") == RECURRING_AFTER
    assert {r for r in rows(engine, bill_chg, "start_dt", "end_dt", "status", "currency_cd")} == {
        (DAY, DAY, "BILLABLE", "USD")}


def test_a_reload_that_moves_the_next_bill_date_back_bills_nothing_twice(lifecycle_world, tmp_path):
    policy = CloseOfDayPolicy(prebill_days=25)
    _lifecycle_day(lifecycle_world, policy)
    # The file wins: S2 back to 2026-03-01, S3 and S11 to 04-01, A2 and its S6 OPEN again …
    load(lifecycle_world, tmp_path / "reference", LIFECYCLE)
    with lifecycle_world.begin() as conn:
        # only what is due on 03-11 (04-01 ≤ 03-11 + 25 days): S2's April (its March is billed, skipped) and
        # S6's April (OPEN again); S3's and S11's periods from 04-01 are billed already
        assert bill_services(conn, date(2026, 3, 11), policy.prebill_days) == 2
    by_period = [bill_chg.c.service_id, bill_chg.c.period_start]
    assert rows(lifecycle_world, bill_chg, "service_id", "period_start", "period_end", "charge_amount",
                where=bill_chg.c.source == "RECURRING", order_by=by_period) == sorted(
        [*RECURRING_AFTER, ("S2", date(2026, 4, 1), date(2026, 4, 30), D("8.00")),
         ("S6", date(2026, 4, 1), date(2026, 4, 30), D("5.00"))])
    assert rows(lifecycle_world, services, "service_id", "next_bill_dt", where=services.c.service_id.in_(
        ["S1", "S11", "S2", "S3"])) == [("S1", date(2026, 4, 1)), ("S11", date(2026, 4, 16)),
                                        ("S2", date(2026, 5, 1)), ("S3", date(2026, 7, 1))]
    # The reload changed S4's status (OPEN by its reopen date → SUSPENDED): the reason and day
    # of the old status went with it, so S4 is not taken as suspended since then.
    assert rows(lifecycle_world, services, "status", "status_reason", "status_dt",
                where=services.c.service_id == "S4") == [("SUSPENDED", None, None)]

    # A next bill date moved into the middle of a billed period (S2: March and April are billed).
    load(lifecycle_world, tmp_path / "reference", {"services": SERVICE_HEADER + (
        "S2,A1,NEW,TV,OPEN,2026-01-01,,MONTHLY,10.00,2026-03-15,20,2026-03-31,\n")})
    with lifecycle_world.begin() as conn:
        assert bill_services(conn, date(2026, 3, 12), policy.prebill_days) == 0
    assert rows(lifecycle_world, services, "next_bill_dt", where=services.c.service_id == "S2") == [
        (date(2026, 5, 1),)]


def test_periods_follow_the_calendar_and_prorate_by_days():
    assert calendar_period(date(2026, 2, 14), "MONTHLY") == (date(2026, 2, 1), date(2026, 3, 1))
    assert calendar_period(date(2026, 11, 30), "QUARTERLY") == (date(2026, 10, 1), date(2027, 1, 1))
    assert calendar_period(date(2026, 12, 31), "MONTHLY") == (date(2026, 12, 1), date(2027, 1, 1))
    assert calendar_period(date(2026, 7, 4), "ANNUAL") == (date(2026, 1, 1), date(2027, 1, 1))
    # 28-day February from the 15th: 14/28 of 9.99 = 4.995 → 5.00; less 10 %: 4.4955 → 4.50
    assert period_charge(date(2026, 2, 15), None, "MONTHLY", D("9.99"), None, 2) == (date(2026, 2, 28), D("5.00"))
    assert period_charge(date(2026, 2, 15), None, "MONTHLY", D("9.99"), D(10), 2) == (date(2026, 2, 28), D("4.50"))
    # a year from March 1st in a 365-day year: 306/365 of 1000 JPY = 838.36 → 838
    assert period_charge(date(2026, 3, 1), None, "ANNUAL", D(1000), None, 0) == (date(2026, 12, 31), D(838))


# --- 3. balances and payments; 4. late fees, overdue, finactivity, wait-for-payment; 5. notices; 6. housekeeping -----

MONEY = {
    "accounts": ACCOUNT_HEADER + """B1,P1,US,USD,C1,OPEN,,,2025-01-01,,14,,b1@example.com
B2,P1,US,USD,C1,OPEN,,,2025-01-01,,,,
B3,P2,US,USD,C1,SUSPENDED,,,2025-01-01,,,,
B4,P2,US,USD,C1,OPEN,,,2025-01-01,,,,b4@example.com
B5,P2,US,USD,C1,SUSPENDED,,,2025-01-01,,,,
B6,P2,US,USD,C1,CLOSED,,,2025-01-01,2025-11-01,,,
""",
    "services": SERVICE_HEADER + """T1,B1,NEW,Fibre,OPEN,2026-01-01,,MONTHLY,10.00,2026-04-01,,,
T3,B3,NEW,Phone,SUSPENDED,2026-01-01,,MONTHLY,10.00,2026-04-01,,,
T4,B2,NEW,TV,WAIT_FOR_PAYMENT,2026-02-01,,MONTHLY,20.00,2026-03-01,,,
T5,B4,NEW,Trial,OPEN,2026-01-01,2026-03-20,MONTHLY,10.00,2026-04-01,,,
""",
}
PAYMENTS = """account_id,amount,payment_dt,reference,payment_method
B1,120.00,2026-02-20,R1,VISA ****4242
B2,20.00,2026-03-05,R2,
B3,25,2026-03-09,R3,
B6,5.00,2025-10-01,R6,IBAN DE** 1234
ZZ,1.00,2026-03-01,R7,
B1,abc,2026-03-01,R8,
B1,1.234,2026-03-01,R9,
B1,1.00,2026-13-01,R10,
B1,2.00,2026-03-01,R1,
B2,3.00,2026-03-01,,
"""
POLICY = CloseOfDayPolicy(late_fee=LateFeePolicy(kind="PERCENT", percent=D("1.5"), grace_days=10),
                          suspend_overdue_after_days=20, warn_grace_days=3, long_suspension_days=60,
                          remove_payment_info_after_days=90)


@pytest.fixture
def money_world(engine, tmp_path):
    load(engine, tmp_path / "reference", MONEY)
    with engine.begin() as conn:
        mark(conn, accounts, "B3", status_reason="OVERDUE", status_dt=date(2026, 2, 20))
        mark(conn, services, "T3", status_reason="OVERDUE", status_dt=date(2026, 2, 20))
        mark(conn, accounts, "B5", status_reason="EXPIRED", status_dt=date(2026, 1, 1))
        mark(conn, accounts, "B6", status_dt=date(2025, 11, 1))
        mark(conn, accounts, "B2", grace_dt=date(2026, 3, 1))
        mark(conn, accounts, "B4", grace_dt=date(2026, 3, 12))
        completed_bill(conn, "X1", "B1", date(2026, 1, 1), date(2026, 1, 15), D("100.00"))
        completed_bill(conn, "X2", "B1", date(2026, 2, 1), date(2026, 2, 15), D("50.00"))
        completed_bill(conn, "X3", "B1", date(2026, 3, 1), date(2026, 3, 15), D("30.00"))
        completed_bill(conn, "Y1", "B2", date(2026, 1, 18), date(2026, 2, 1), D("40.00"))
        credit(conn, "Y1", D("40.00"), date(2026, 2, 5))
        completed_bill(conn, "Y2", "B2", date(2026, 3, 1), date(2026, 3, 20), D("20.00"), charged=False)
        recurring_charge_on_bill(conn, "T4", "B2", D("20.00"), "Y2")
        completed_bill(conn, "Z1", "B3", date(2026, 1, 1), date(2026, 1, 15), D("25.00"))
        completed_bill(conn, "W1", "B4", date(2025, 12, 27), date(2026, 1, 10), D("10.00"))
    return engine


@pytest.fixture
def paths(tmp_path) -> BillingPaths:
    return BillingPaths(tmp_path / "home").ensure()


def _drop_payments(paths: BillingPaths, name: str, text: str):
    folder = paths.inbox / "payments"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder / name


def test_a_payment_file_keeps_good_rows_once_and_quarantines_bad_rows_with_reasons(money_world, paths):
    dropped = _drop_payments(paths, "bank-0310.csv", PAYMENTS)
    key = file_id(dropped)
    outcome = load_payment_file(money_world, paths, dropped)
    assert (outcome.file_id, outcome.accepted, outcome.rejected, outcome.amount) == (key, 4, 6, D("170.00"))
    assert rows(money_world, payment, "account_id", "amount", "payment_dt", "reference") == [
        ("B1", D("120.00"), date(2026, 2, 20), "R1"), ("B2", D("20.00"), date(2026, 3, 5), "R2"),
        ("B3", D(25), date(2026, 3, 9), "R3"), ("B6", D("5.00"), date(2025, 10, 1), "R6")]
    assert rows(money_world, account_payment_info, "account_id", "payment_method") == [
        ("B1", "VISA ****4242"), ("B6", "IBAN DE** 1234")]
    with (paths.quarantine / "payments" / f"{key}.rejected.csv").open(encoding="utf-8") as quarantined:
        rejected = list(csv.DictReader(quarantined))
    assert [row["line"] for row in rejected] == ["6", "7", "8", "9", "10", "11"]
    assert [row["reason"] for row in rejected] == [
        "unknown account 'ZZ': load it with `billing reference load`, then drop the row again",
        "amount 'abc' is not a decimal number",
        "amount 1.234 has more decimals than the account's currency allows (2)",
        "payment_dt '2026-13-01' is not a date YYYY-MM-DD",
        "payment R1 of account B1 appears twice in the file",
        "reference must be 1 to 200 characters: it identifies the payment",
    ]
    assert (paths.archive / "payments" / key / "bank-0310.csv").is_file()
    assert not list((paths.inbox / "payments").iterdir())

    again = load_payment_file(money_world, paths, _drop_payments(paths, "bank-0310.csv", PAYMENTS))
    assert again.already_loaded and again.accepted == 0
    repeated = load_payment_file(money_world, paths, _drop_payments(paths, "bank-0311.csv", PAYMENTS.replace(
        "B3,25,2026-03-09,R3,", "B3,25,2026-03-09,R3b,")))
    assert (repeated.accepted, repeated.rejected) == (1, 9)  # R1, R2, R6 are already recorded
    assert "payment R1 of account B1 is already recorded" in repeated.rejected_rows[0]["reason"]


def test_a_payment_file_that_cannot_be_read_is_quarantined_with_its_reason(money_world, paths):
    outcome = load_payment_file(money_world, paths, _drop_payments(paths, "bad.csv", "account,amount\nB1,1\n"))
    assert outcome.message.startswith("bad.csv cannot be read: the header lacks account_id, payment_dt, reference")
    assert (paths.quarantine / "payments" / "bad" / "REASON.txt").read_text().startswith("bad.csv cannot be read")
    assert rows(money_world, payment, "payment_id") == []


def _money_day(engine, day, outbox):
    with engine.begin() as conn:
        counts = {**balances.update_balances(conn, day), "ResetGraceDates": balances.reset_grace_dates(conn, day)}
        counts["AssessLateFeesByInvoice"] = overdue.assess_late_fees(conn, day, POLICY.late_fee)
        counts.update(overdue.reopen_and_suspend(conn, day, POLICY.suspend_overdue_after_days))
        counts["SetFinactivity"] = overdue.set_finactivity(conn, day)
        counts["OpenWaitForPaymentServices"] = overdue.open_paid_services(conn, day)
        counts.update(create_notices(conn, day, POLICY))
    counts["notices_sent"] = send_notices(engine, OutboxNotifier(outbox))
    with engine.begin() as conn:
        counts["RemovePaymentInfo"] = housekeeping.remove_payment_info(conn, day, POLICY.remove_payment_info_after_days)
        stats = housekeeping.collect_stats(conn, day)
    return counts, stats


def test_balances_late_fees_overdue_notices_and_housekeeping_of_a_day(money_world, paths):
    load_payment_file(money_world, paths, _drop_payments(paths, "bank-0310.csv", PAYMENTS))
    counts, stats = _money_day(money_world, DAY, paths.outbox)
    assert counts == {
        "bills_paid_amount_changed": 7, "accounts_owing": 2, "accounts_past_due": 2, "ResetGraceDates": 1,
        "AssessLateFeesByInvoice": 2, "ReopenOverDueAccounts": 1, "ReopenOverDueServices": 1,
        "SuspendOverDueAccounts": 1, "services_suspended_overdue": 1, "SetFinactivity": 6,
        "OpenWaitForPaymentServices": 1, "WarnServiceExpiration": 1, "WarnGraceDate": 1,
        "NoticeLongSuspendAccounts": 1, "NoticeLongSuspendServices": 0, "notices_sent": 3, "RemovePaymentInfo": 1,
    }
    # B1 paid 120.00: X1 (100.00) in full, then 20.00 of X2; X3 is not due yet.
    assert rows(money_world, bill, "bill_id", "paid_amount") == [
        ("W1", D(0)), ("X1", D("100.00")), ("X2", D("20.00")), ("X3", D(0)), ("Y1", D(0)), ("Y2", D("20.00")),
        ("Z1", D(25))]
    assert rows(money_world, accounts, "account_id", "balance", "past_due_balance", "balance_dt", "status",
                "status_reason", "grace_dt", "finactivity_sw") == [
        # 180.00 owed − 120.00 paid; past due: X2's 30.00 left (X3 due on 03-15); X2 is 23 days late → SUSPENDED
        ("B1", D("60.00"), D("30.00"), DAY, "SUSPENDED", "OVERDUE", None, "Y"),
        # Y1 credited in full, Y2 paid; the past grace date cleared
        ("B2", D("0.00"), D(0), DAY, "OPEN", None, None, "N"),
        # Z1 paid on 03-09: no longer overdue → reopened
        ("B3", D("0.00"), D(0), DAY, "OPEN", "PAID", None, "N"),
        # W1 unpaid since 01-10 but a grace date until 03-12: not suspended, warned
        ("B4", D("10.00"), D("10.00"), DAY, "OPEN", None, date(2026, 3, 12), "Y"),
        ("B5", D(0), D(0), DAY, "SUSPENDED", "EXPIRED", None, "N"),
        ("B6", D("-5.00"), D(0), DAY, "CLOSED", None, None, "N"),
    ]
    # 1.5 % of what is open 10 grace days after the due date: X2 30.00 → 0.45, W1 10.00 → 0.15
    assert rows(money_world, bill_chg, "account_id", "late_fee_bill_id", "charge_amount", "start_dt", "description",
                where=bill_chg.c.source == "LATE_FEE") == [
        ("B1", "X2", D("0.45"), DAY, "Late fee: invoice US-2026-X2 due 2026-02-15"),
        ("B4", "W1", D("0.15"), DAY, "Late fee: invoice US-2026-W1 due 2026-01-10")]
    assert rows(money_world, services, "service_id", "status", "status_reason") == [
        ("T1", "SUSPENDED", "OVERDUE"), ("T3", "OPEN", "PAID"), ("T4", "OPEN", "PAID"), ("T5", "OPEN", None)]
    assert rows(money_world, notice, "notice_id", "recipient") == [
        ("GRACE_DATE:B4:2026-03-12", "b4@example.com"),
        ("LONG_SUSPENSION_ACCOUNT:B5:2026-01-01", "operator@localhost"),
        ("SERVICE_EXPIRATION:T5:2026-03-20", "b4@example.com")]
    assert sorted(p.name for p in paths.outbox.glob("*.eml")) == [
        "notice-GRACE_DATE-B4-2026-03-12.eml", "notice-LONG_SUSPENSION_ACCOUNT-B5-2026-01-01.eml",
        "notice-SERVICE_EXPIRATION-T5-2026-03-20.eml"]
    assert "B4 has 10.00 USD past due. Please pay by 2026-03-12" in \
        (paths.outbox / "notice-GRACE_DATE-B4-2026-03-12.eml").read_text()
    assert rows(money_world, account_payment_info, "account_id") == [("B1",)]  # B6 closed 129 days ago
    assert {k: stats[k] for k in ("accounts_open", "accounts_suspended", "accounts_closed", "services_open",
                                  "late_fees_charged", "receivables", "past_due", "notices", "charges_unbilled")} == {
        "accounts_open": 3, "accounts_suspended": 2, "accounts_closed": 1, "services_open": 3,
        "late_fees_charged": D("0.60"), "receivables": D("70.00"), "past_due": D("40.00"), "notices": 3,
        "charges_unbilled": 2}
    assert len(rows(money_world, daily_statistic, "metric", where=daily_statistic.c.business_dt == DAY)) == len(stats)

    state = _money_state(money_world)
    again, _ = _money_day(money_world, DAY, paths.outbox)  # the day again: nothing new, nothing sent twice
    assert {k: v for k, v in again.items() if v} == {"accounts_owing": 2, "accounts_past_due": 2}
    assert _money_state(money_world) == state

    # The next day B1 pays X2's rest: no longer overdue, reopened with its service; no second fee for X2.
    load_payment_file(money_world, paths, _drop_payments(paths, "bank-0311.csv",
                                                         "account_id,amount,payment_dt,reference\nB1,30.00,2026-03-11,R11\n"))
    nextday, _ = _money_day(money_world, date(2026, 3, 11), paths.outbox)
    assert (nextday["ReopenOverDueAccounts"], nextday["ReopenOverDueServices"], nextday["AssessLateFeesByInvoice"]) \
        == (1, 1, 0)
    assert rows(money_world, accounts, "status", "status_reason", "balance", "past_due_balance",
                where=accounts.c.account_id == "B1") == [("OPEN", "PAID", D("30.00"), D(0))]


def _money_state(engine):
    return [rows(engine, table, *[c.name for c in table.c if c.name not in ("sent_at", "balance_dt")])
            for table in (bill, bill_chg, accounts, services, notice, account_payment_info, daily_statistic)]


def test_database_checks_name_severe_problems_and_warnings(money_world, paths):
    load_payment_file(money_world, paths, _drop_payments(paths, "bank-0310.csv", PAYMENTS))
    _money_day(money_world, DAY, paths.outbox)
    with money_world.begin() as conn:
        assert findings(conn, SEVERE) == []
        # X1, paid in full, credited the next day: still paid as of the balances' day, no problem
        credit(conn, "X1", D("100.00"), date(2026, 3, 11))
        assert findings(conn, SEVERE) == []
        assert findings(conn, WARNINGS) == [
            "no account in credit: account B6 has a credit balance of -5.00 USD: refund or keep it"]
        conn.execute(update(bill).where(bill.c.bill_id == "X3").values(total_amount=D("31.00")))
        assert findings(conn, SEVERE) == [
            "bill totals add up: bill X3: subtotal 30.00 + tax 0 vs total 31.00; its segments sum to 30.00"]


def test_managefiles_compresses_then_deletes_by_age_at_the_business_day(paths):
    zone = ZoneInfo("America/Chicago")

    def aged(path, on: date, text="x"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        stamp = datetime(on.year, on.month, on.day, 12, tzinfo=zone).timestamp()
        os.utime(path, (stamp, stamp))
        return path

    aged(paths.archive / "H1" / "feed.csv", date(2026, 2, 8), "old feed")  # 30 days: compressed
    aged(paths.archive / "H2" / "feed.csv", date(2026, 2, 9))  # 29 days: kept
    aged(paths.archive / "H0" / "feed.csv", date(2025, 2, 3))  # 400 days: deleted, its folder too
    aged(paths.quarantine / "bad" / "REASON.txt", date(2026, 2, 24))  # 14 days: compressed
    counts = housekeeping.manage_files(paths, DAY, CloseOfDayPolicy())
    assert counts == {"files_compressed": 2, "files_deleted": 1}
    assert sorted(str(p.relative_to(paths.home)) for p in paths.home.rglob("*") if p.is_file()) == [
        "archive/H1/feed.csv.gz", "archive/H2/feed.csv", "quarantine/bad/REASON.txt.gz"]
    assert gzip.decompress((paths.archive / "H1" / "feed.csv.gz").read_bytes()) == b"old feed"
    assert not (paths.archive / "H0").exists()
    assert housekeeping.manage_files(paths, DAY, CloseOfDayPolicy()) == {"files_compressed": 0, "files_deleted": 0}


def test_a_bad_policy_names_its_key_and_what_is_allowed(tmp_path, monkeypatch):
    assert load_policy(tmp_path) == CloseOfDayPolicy()
    (tmp_path / "closeofday.yaml").write_text("late_fee:\n  kind: SOMETIMES\nretention:\n  archive:\n"
                                              "    compress_after_days: 10\n    delete_after_days: 5\n")
    with pytest.raises(BillingError) as refused:
        load_policy(tmp_path)
    assert "late_fee.kind: Input should be 'PERCENT' or 'FLAT'" in str(refused.value)
    assert "retention.archive: Value error, delete_after_days must be greater than compress_after_days" in \
        str(refused.value)
    (tmp_path / "closeofday.yaml").write_text("prebill_days: 5\nlate_fee: {kind: FLAT, flat_amount: '2.50'}\n")
    policy = load_policy(tmp_path)
    assert (policy.prebill_days, policy.late_fee.kind, policy.late_fee.flat_amount) == (5, "FLAT", D("2.50"))
    monkeypatch.setenv("BILLING_CLOSEOFDAY_POLICY", str(tmp_path / "typo.yaml"))
    with pytest.raises(BillingError, match="BILLING_CLOSEOFDAY_POLICY names .*typo.yaml, which does not exist"):
        load_policy(tmp_path)

"""The close-of-day job through the `billing closeofday` command and the real Dagster instance:
days run in order and once, missed days are caught up in date order (the bills are those of
tests/test_invoicing.py, worked out by hand there)."""

from datetime import date
from decimal import Decimal as D

from click.testing import CliRunner
from dagster import DagsterInstance, RunsFilter

from billing.cli import main
from billing.db.schema import bill, bill_segment, closeofday_log, credit_note
from tests.test_invoicing import billing_world  # noqa: F401  (the fixture)
from tests.mail import free_port, smtp_server  # noqa: F401  (the fixture)
from tests.world import rows


def _closeofday(*args):
    return CliRunner().invoke(main, ["closeofday", *args], catch_exceptions=False)


def _bills(engine):
    return rows(engine, bill, "bill_dt", "account_id", "invoice_number", "total_amount",
                where=bill.c.bill_id != "FEB-M1", order_by=[bill.c.bill_dt, bill.c.account_id])


def test_missed_days_close_in_date_order_and_a_day_closes_once(billing_world, billing_home):  # noqa: F811
    first = _closeofday("--date", "2026-02-26")
    assert first.exit_code == 0, first.output
    assert "close of day 2026-02-26: closed. Bills dated 2026-02-26: none" in first.output

    skipped = _closeofday("--date", "2026-03-01")  # three days were missed
    assert skipped.exit_code == 2
    assert ("the last day closed is 2026-02-26, so 2026-02-27 comes first. Run `billing closeofday --through "
            "2026-03-01`") in skipped.output
    assert _bills(billing_world) == []

    caught_up = _closeofday("--through", "2026-03-01")
    assert caught_up.exit_code == 0, caught_up.output
    closed_lines = [line.split(":")[0] for line in caught_up.output.splitlines() if line.startswith("close of day")]
    assert closed_lines == ["close of day 2026-02-27", "close of day 2026-02-28", "close of day 2026-03-01"]
    assert [day for (day,) in rows(billing_world, closeofday_log, "business_dt")] == [
        date(2026, 2, 26), date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1)]
    expected = [
        (date(2026, 2, 28), "F28", "US-2026-000001", D("1.00")),
        (date(2026, 3, 1), "CL1", "US-2026-000002", D("12.34")),
        (date(2026, 3, 1), "M1", "US-2026-000003", D("26.21")),
        (date(2026, 3, 1), "MID", "US-2026-000004", D("107.05")),
    ]
    assert _bills(billing_world) == expected
    runs = DagsterInstance.get().get_runs(RunsFilter(job_name="closeofday_job"))
    assert [run.tags["dagster/partition"] for run in reversed(runs)] == [
        "2026-02-26", "2026-02-27", "2026-02-28", "2026-03-01"]

    again = _closeofday("--date", "2026-03-01")  # a re-run bills nobody twice
    assert again.exit_code == 0, again.output
    assert _closeofday("--through", "2026-03-01").output == "nothing to close: every day through 2026-03-01 is " \
                                                            "closed\n"
    assert _bills(billing_world) == expected
    assert len(rows(billing_world, closeofday_log, "business_dt")) == 4


def test_a_day_that_has_not_begun_cannot_close(billing_world, billing_home):  # noqa: F811
    result = _closeofday("--date", "2999-01-01")
    assert result.exit_code == 2
    assert "2999-01-01 has not begun yet in America/Chicago" in result.output


def test_an_adjustment_reaches_the_next_bill_and_a_credit_note_cancels_a_bill(billing_world, billing_home):  # noqa: F811
    runner = CliRunner()
    credit = runner.invoke(main, ["adjust", "M1", "-6.30", "--reason", "goodwill", "--date", "2026-02-20"])
    assert credit.exit_code == 0, credit.output
    assert runner.invoke(main, ["adjust", "JP1", "10.5", "--reason", "x"]).output == \
        "error: 10.5 has more decimals than JPY allows (0)\n"
    assert runner.invoke(main, ["adjust", "NOPE", "1", "--reason", "x"]).exit_code == 2
    assert _closeofday("--date", "2026-03-01").exit_code == 0
    # M1's bill of tests/test_invoicing.py (23.30) less the 6.30 credit: 17.00; VAT 12.5 % = 2.125 → 2.13
    [(bill_id, subtotal, tax, total)] = rows(billing_world, bill, "bill_id", "subtotal", "tax_amount", "total_amount",
                                             where=(bill.c.account_id == "M1") & (bill.c.bill_id != "FEB-M1"))
    assert (subtotal, tax, total) == (D("17.00"), D("2.13"), D("19.13"))

    cancelled = runner.invoke(main, ["bill", "cancel", bill_id, "--reason", "disputed"])
    assert cancelled.exit_code == 0, cancelled.output
    assert cancelled.output.startswith(f"bill {bill_id} cancelled by credit note US-CN-")
    assert {status for (status,) in rows(billing_world, bill_segment, "status",
                                         where=bill_segment.c.bill_id == bill_id)} == {"CANCELED"}
    [(number, amount)] = rows(billing_world, credit_note, "credit_number", "amount")
    assert amount == D("19.13") and number.endswith("-000001")
    again = runner.invoke(main, ["bill", "cancel", bill_id])
    assert again.exit_code == 2 and f"is already cancelled by credit note {number}" in again.output


def test_invoices_are_sent_through_smtp_once(billing_world, billing_home, smtp_server):  # noqa: F811
    assert _closeofday("--date", "2026-03-01").exit_code == 0
    # M1 has an e-mail address; CL1 and MID have none: their invoices go to the print queue.
    [message] = smtp_server.messages
    assert (message["Subject"], message["From"], message["To"]) == (
        "Invoice US-2026-000002", "invoices@bank.example", "m1@example.com")
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Invoice US-2026-000002" in html and "26.21 USD" in html and "3.33 EUR × 1.20" in html
    [pdf] = [part for part in message.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert pdf.get_filename() == "US-2026-000002.pdf" and pdf.get_content().startswith(b"%PDF-")
    assert sorted(path.name for path in (billing_home.outbox / "print").glob("*.eml")) == [
        "US-2026-000001.eml", "US-2026-000003.eml"]
    assert sorted(path.name for path in (billing_home.outbox / "documents").iterdir()) == [
        "US-2026-000001.html", "US-2026-000001.pdf", "US-2026-000002.html", "US-2026-000002.pdf",
        "US-2026-000003.html", "US-2026-000003.pdf"]
    [(sent,)] = rows(billing_world, closeofday_log, "documents_sent")
    assert sent == 3

    assert _closeofday("--date", "2026-03-01").exit_code == 0  # the day again: no second e-mail
    assert len(smtp_server.messages) == 1


def test_an_invoice_preview_shows_the_next_bill_and_writes_nothing(billing_world, billing_home):  # noqa: F811
    before = {table.name: rows(billing_world, table, *table.c.keys()[:1]) for table in (bill, bill_segment)}
    result = CliRunner().invoke(main, ["invoice", "preview", "M1", "--as-of", "2026-02-20"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "account M1: next bill 2026-03-01 for 2026-02-01 … 2026-02-28, due 2026-03-15"
    assert lines[-1] == "  subtotal 23.30 USD; tax 2.91; total 26.21 USD"  # the bill of tests/test_invoicing.py
    assert "4.00 (3.33 EUR)" in result.output and len(lines) == 7  # 5 segments
    assert {table.name: rows(billing_world, table, *table.c.keys()[:1]) for table in (bill, bill_segment)} == before
    unknown = CliRunner().invoke(main, ["invoice", "preview", "NOPE"])
    assert unknown.exit_code == 2 and "account NOPE is unknown" in unknown.output


def test_a_mail_server_that_is_down_fails_the_day_with_what_to_do(billing_world, billing_home, monkeypatch):  # noqa: F811
    port = free_port()  # nobody listens on it
    monkeypatch.setenv("BILLING_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("BILLING_SMTP_PORT", str(port))
    result = _closeofday("--date", "2026-03-01")
    assert result.exit_code == 1
    assert "sending US-2026-000002 to m1@example.com through smtp failed" in result.output
    assert "Fix the mail server (BILLING_SMTP_*), then run the close of day again" in result.output
    assert rows(billing_world, closeofday_log, "business_dt") == []  # the day is not closed

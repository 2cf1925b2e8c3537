"""The ``billing`` command (DESIGN §4.2).

Commands that run jobs go through the Dagster instance at ``$DAGSTER_HOME`` (imported
lazily from ``jobs.launch``), so their runs appear in the UI. Errors an operator can act on
are printed as one clear message, never as a traceback.
"""

from __future__ import annotations

import os
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import click
from sqlalchemy import inspect

from billing.db.engine import display_url, make_engine
from billing.errors import BillingError, DatabaseUnavailable
from billing.settings import billing_paths, database_url

from billing.demo.catalog import SAMPLE_REFERENCE_DIR as SAMPLE_REFERENCE


class _Group(click.Group):
    """Turns BillingError — and a database that went away — into a one-line message and exit
    code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (BillingError, DatabaseUnavailable) as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)


class _Audited(_Group):
    """The ``billing`` command itself: the role in force (``BILLING_ROLE``) must have the
    permission the subcommand needs, and every command — refused, started, failed or done — is
    appended to the audit trail, with the configuration file in force when it changed."""

    def invoke(self, ctx):
        # Click 8.2 renamed protected_args (deprecated) to _protected_args; 8.1 has only the former.
        protected = getattr(ctx, "_protected_args", None)
        words = [*(ctx.protected_args if protected is None else protected), *ctx.args]
        if not words or words[0].startswith("-") or "--help" in words or self.get_command(ctx, words[0]) is None:
            return super().invoke(ctx)  # help, or a usage error click reports itself
        command = words[0]
        if isinstance(self.get_command(ctx, command), click.Group) and len(words) > 1:
            command = f"{command} {words[1]}"
        from billing.operations.audit import ACCESS_ATTEMPT, OPERATOR_COMMAND
        from billing.operations.config import load_config
        from billing.operations.security import AccessRefused, check_permission, current_role

        try:
            config = load_config(billing_paths().home)
        except BillingError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)
        role = current_role()
        line = " ".join(["billing", *words])
        try:
            check_permission(config, role, command)
        except AccessRefused as refused:
            _audit(config, role, ACCESS_ATTEMPT, line, "REFUSED", str(refused))
            click.echo(f"error: {refused}", err=True)
            sys.exit(2)
        # A STARTED entry first, so that a command killed before it could say how it ended
        # still shows; the process id pairs it with its outcome among concurrent commands.
        process = f"process {os.getpid()}"
        warned = _audit(config, role, OPERATOR_COMMAND, line, "STARTED", process)
        outcome = "FAILED"
        try:
            result = super().invoke(ctx)
            outcome = "OK"
            return result
        except SystemExit as leaving:
            outcome = "OK" if leaving.code in (0, None) else "FAILED"
            raise
        finally:
            _audit(config, role, OPERATOR_COMMAND, line, outcome, process, warn=not warned)


def _audit(config, role: str | None, event: str, subject: str, outcome: str, detail: str | None = None,
           warn: bool = True) -> bool:
    """Append to the audit trail (and note the configuration file when it changed); a database
    without a schema yet (before `billing init`) has no trail to write to. True when the entry
    could not be written and a warning said so (``warn``: say it, rather than say it twice)."""
    from sqlalchemy.exc import SQLAlchemyError

    from billing.operations.audit import note_configuration, record
    from billing.operations.config import config_path
    from billing.settings import operator_name

    try:
        engine = _engine()
    except BillingError:
        return False
    except SQLAlchemyError as error:  # the database is down: the command says so too
        if warn:
            click.echo(f"warning: the audit trail could not be written ({error})", err=True)
        return warn
    try:
        with engine.begin() as conn:
            note_configuration(conn, config, config_path(billing_paths().home), operator_name())
            record(conn, config, operator_name(), role, event, subject, outcome, detail)
        return False
    except SQLAlchemyError as error:
        if warn:
            click.echo(f"warning: the audit trail could not be written ({error.__class__.__name__}: {error})",
                       err=True)
        return warn
    finally:
        engine.dispose()


def _engine(create: bool = False):
    from billing.operations.config import configured_engine_settings

    engine = make_engine(database_url(), configured_engine_settings())
    if create:
        from billing.db.migrate import upgrade

        upgrade(engine)
    elif "alembic_version" not in inspect(engine).get_table_names():
        raise BillingError(f"the billing database at {display_url(engine.url)} has no schema yet: run `billing init` "
                           "first")
    return engine


def _date(_ctx, _param, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form") from None


def _decimal(value: str) -> Decimal:
    try:
        return Decimal(value)
    except ArithmeticError:
        raise click.BadParameter(f"{value!r} is not a decimal amount such as 12.50 or -3.00") from None


@click.group(cls=_Audited)
def main() -> None:
    """Billing data platform: transaction feeds to billable charges, on Dagster."""


@main.command()
def init() -> None:
    """Create or upgrade the billing schema (Alembic migrations)."""
    from billing.db.migrate import upgrade

    paths = billing_paths().ensure()
    done = upgrade(make_engine(database_url()))
    click.echo(f"billing database {done} ({display_url(database_url())}); BILLING_HOME is {paths.home}")
    exposed = paths.exposed()
    if exposed:
        click.echo(f"warning: any user of this machine may open {', '.join(map(str, exposed))}, which hold customer "
                   "data: `chmod o-rwx` them (README, Production: permissions of $BILLING_HOME)", err=True)


@main.group(cls=_Group)
def reference() -> None:
    """Reference data: currencies, accounts, pricing, rules …"""


@reference.command("load")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--no-disaggregate", is_flag=True, help="Leave the re-rating a pricing change asks for to an operator "
              "(the pricing-change sensor offers it) instead of running it now.")
def reference_load(folder: Path, no_disaggregate: bool) -> None:
    """Load (upsert) the reference data FOLDER, then refresh effective pricing.

    A pricing change effective on or before transactions already processed is re-rated at
    once — disaggregation, re-aggregation, pending bills rebuilt — unless --no-disaggregate.
    """
    if not _load_reference(folder, disaggregate=not no_disaggregate):
        sys.exit(1)


def _load_reference(folder: Path, disaggregate: bool = True) -> bool:
    from billing.reference.loader import load_reference
    from billing.reference.pricing_changes import request_repricing
    from jobs.launch import dagster_instance, run_disaggregation, run_pricing_refresh

    report = load_reference(_engine(), folder)
    counts = ", ".join(f"{name} {n}" for name, n in sorted(report.row_counts.items()))
    click.echo(f"reference data load {report.load_id} ({report.content_hash[:12]}): {counts}")
    outcome = run_pricing_refresh(dagster_instance())
    if not outcome.success:
        raise BillingError("effective pricing refresh failed: " + "; ".join(outcome.failures))
    click.echo("effective pricing refreshed")
    if not report.pricing_changes:
        return True
    with _engine().begin() as conn:
        made = request_repricing(conn)
    if not made["requests_created"]:
        return True
    click.echo(f"{report.pricing_changes} price assignments changed; {made['requests_created']} accounts have "
               "transactions processed at the old prices")
    if not disaggregate:
        click.echo("their disaggregation requests wait: launch disaggregation_job or run `billing disaggregate`")
        return True
    return _print_outcome("disaggregation run", run_disaggregation(dagster_instance(), {})) and _follow_up()


@main.group(cls=_Group)
def feed() -> None:
    """Transaction feeds: submit, process and cancel."""


@feed.command("submit")
@click.argument("data_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("control_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def feed_submit(data_file: Path, control_file: Path) -> None:
    """Place a feed in the inbox atomically (the control file last); the sensor picks it up."""
    from billing.feeds.inbox import submit

    target = submit(data_file, control_file, billing_paths().ensure().inbox)
    click.echo(f"submitted {target}")


@feed.command("process")
@click.argument("control_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--business-date", callback=_date, help="YYYY-MM-DD; default today (America/Chicago).")
def feed_process(control_file: Path, business_date: date | None) -> None:
    """Register the feed and run the aggregation job for its partition here and now."""
    _engine()
    if not _process(control_file, business_date):
        sys.exit(1)


def _process(control_file: Path, business_date: date | None) -> bool:
    from jobs.launch import dagster_instance, run_aggregation, stage_for_processing

    feed_found = stage_for_processing(control_file)
    outcome = run_aggregation(dagster_instance(), feed_found, business_date)
    try:
        _print_feed(feed_found.header_id)
    except DatabaseUnavailable as unavailable:  # what failed the run, likely: the run's outcome says it
        click.echo(f"feed {feed_found.header_id}: its state cannot be read now ({unavailable})", err=True)
    return _print_outcome("run", outcome)


def _print_outcome(what: str, outcome) -> bool:
    """Say how a run ended (with the reasons when it failed); True when it succeeded."""
    if outcome.success:
        click.echo(f"{what} {outcome.run_id} succeeded")
    else:
        click.echo(f"{what} {outcome.run_id} failed:", err=True)
        for failure in outcome.failures:
            click.echo(f"  {failure}", err=True)
    return outcome.success


def _print_feed(header_id: str) -> None:
    from billing.db.schema import txn_header
    from billing.tfm.report import charges_by_status, transactions_by_status
    from sqlalchemy import select

    with _engine().connect() as conn:
        header = conn.execute(select(txn_header).where(txn_header.c.header_id == header_id)).first()
        click.echo(f"feed {header_id}: {header.status if header else 'not uploaded'}")
        if header is not None and header.message:
            click.echo(f"  {header.message}")
        for status, entry in transactions_by_status(conn, [header_id]).items():
            click.echo(f"  transactions {status:<5} {entry['count']:>8}  amount {entry['amount']}")
        for row in charges_by_status(conn, [header_id]):
            click.echo(
                f"  charges {row['status']} aggregated={row['aggregated']} {row['currency']}: {row['charges']} "
                f"charges, amount {row['amount']}"
            )


@feed.command("cancel")
@click.argument("header_id")
def feed_cancel(header_id: str) -> None:
    """Cancel the feed HEADER_ID: its pending bills, charges and legs go, it ends CNCL.

    Refused, changing nothing, while its charges are on an invoiced bill. The pending bills
    deleted are then billed afresh without the feed's charges.
    """
    from jobs.launch import dagster_instance, run_feed_job

    _engine()
    outcome = run_feed_job(dagster_instance(), "cancellation_job", header_id)
    _print_feed(header_id)
    if not _print_outcome("cancellation run", outcome) or not _follow_up():
        sys.exit(1)


@main.command()
@click.option("--status", "status_", required=True, type=click.Choice(["EROR", "IGNR"]),
              help="Roll back transactions in this status.")
@click.option("--feed", "header_id", help="Only this feed (header_id).")
@click.option("--source", help="Only feeds of this transaction source.")
@click.option("--division", help="Only feeds of this division.")
@click.option("--from", "from_dt", callback=_date, help="Only transactions dated on or after (YYYY-MM-DD).")
@click.option("--to", "to_dt", callback=_date, help="Only transactions dated on or before (YYYY-MM-DD).")
def rollback(status_: str, header_id: str | None, source: str | None, division: str | None,
             from_dt: date | None, to_dt: date | None) -> None:
    """Roll back EROR or IGNR transactions (C1-TXNRB), then re-aggregate their feeds."""
    from billing.tfm.rollback import RollbackFilter
    from jobs.launch import dagster_instance, run_rollback

    RollbackFilter(status_, header_id, source, division, from_dt, to_dt)  # refuses --from later than --to
    _engine()
    config = {"status": status_, "feed": header_id, "source": source, "division": division,
              "from_date": from_dt and from_dt.isoformat(), "to_date": to_dt and to_dt.isoformat()}
    outcome = run_rollback(dagster_instance(), {k: v for k, v in config.items() if v})
    if not _print_outcome("rollback run", outcome) or not _follow_up():
        sys.exit(1)


@main.command()
@click.option("--from-date", "from_dt", callback=_date, required=True,
              help="Re-rate transactions dated on or after this day (YYYY-MM-DD).")
@click.option("--division", help="Only accounts of this division.")
@click.option("--person", help="Only accounts of this person.")
@click.option("--account", help="Only this account.")
@click.option("--bill-cycle", help="Only accounts of this bill cycle.")
def disaggregate(from_dt: date, division: str | None, person: str | None, account: str | None,
                 bill_cycle: str | None) -> None:
    """Re-rate after a pricing change: disaggregate, re-aggregate at the new prices, rebuild
    the pending bills deleted. Invoiced charges stay until their bill is cancelled."""
    from jobs.launch import dagster_instance, run_disaggregation

    _engine()
    config = {"from_date": from_dt.isoformat(), "division": division, "person": person, "account": account,
              "bill_cycle": bill_cycle}
    outcome = run_disaggregation(dagster_instance(), {k: v for k, v in config.items() if v})
    if not _print_outcome("disaggregation run", outcome) or not _follow_up():
        sys.exit(1)


def _follow_up() -> bool:
    """What the re-aggregation and bill rebuild sensors would do, done here and now: the
    aggregation job of every feed with transactions back in staging, then DoInvoicing again
    for every day whose pending bills were deleted."""
    from billing.invoicing.deleted_bills import days_to_rebuild
    from billing.settings import business_today
    from billing.tfm.rollback import feeds_to_reaggregate
    from jobs.launch import dagster_instance, run_bill_rebuild, run_feed_job

    instance = dagster_instance()
    with _engine().connect() as conn:
        waiting = feeds_to_reaggregate(conn, business_today())
    for header_id, _generation in waiting:
        if not _print_outcome(f"re-aggregation of feed {header_id}: run",
                              run_feed_job(instance, "aggregation_job", header_id)):
            return False
    with _engine().connect() as conn:
        days = days_to_rebuild(conn)
    for day, _generation in days:
        if not _print_outcome(f"pending bills of {day} rebuilt: run", run_bill_rebuild(instance, day)):
            return False
    return True


@main.command()
@click.option("--date", "day", callback=_date, help="Close this one day (YYYY-MM-DD).")
@click.option("--through", callback=_date, help="Close every day not yet closed up to this one, in order.")
@click.option("--review-days", default=0, show_default=True, help="Days a pending bill waits before completion.")
def closeofday(day: date | None, through: date | None, review_days: int) -> None:
    """Run the close of day (bill runs, finalization) for one day or every missing day."""
    from billing.closeofday.days import check_in_order, days_to_close
    from billing.settings import business_today

    if (day is None) == (through is None):
        raise click.UsageError("give exactly one of --date D or --through D")
    last = day or through
    if last > business_today():
        raise BillingError(f"{last} has not begun yet in America/Chicago: a day can be closed from its own date on")
    with _engine().begin() as conn:
        if day is not None:
            check_in_order(conn, day)
            days = [day]
        else:
            days = days_to_close(conn, through)
    if not days:
        click.echo(f"nothing to close: every day through {through} is closed")
        return
    if not _close_days(days, review_days):
        sys.exit(1)


def _close_days(days: list[date], review_days: int) -> bool:
    """Run the close of day for each day in order; stop at the first that fails."""
    from jobs.launch import dagster_instance, run_closeofday

    instance = dagster_instance()
    for each in days:
        outcome = run_closeofday(instance, each, review_days)
        if not outcome.success:
            return _print_outcome(f"close of day {each}: run", outcome)
        _print_day(each)
    return True


def _print_day(day: date) -> None:
    from billing.invoicing.report import bill_totals

    with _engine().connect() as conn:
        totals = bill_totals(conn, day)
    summary = "; ".join(f"{key}: {value['bills']} bills, total {value['total']}" for key, value in totals.items())
    click.echo(f"close of day {day}: closed. Bills dated {day}: {summary or 'none'}")


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("account_id")
@click.argument("amount", callback=lambda _c, _p, value: _decimal(value))
@click.option("--reason", required=True, help="Why; the invoice shows it.")
@click.option("--date", "day", callback=_date, help="Charge date (default today, America/Chicago).")
def adjust(account_id: str, amount: Decimal, reason: str, day: date | None) -> None:
    """A credit (negative AMOUNT) or debit adjustment that the account's next bill picks up."""
    from billing.invoicing.adjustments import add_adjustment
    from billing.settings import business_today

    with _engine().begin() as conn:
        charge_id = add_adjustment(conn, account_id, amount, reason, day or business_today())
    click.echo(f"adjustment {amount} for account {account_id}: charge {charge_id}, on the account's next bill")


@main.group(cls=_Group)
def bill() -> None:
    """Bills: cancel a completed one with a credit note."""


@bill.command("cancel")
@click.argument("bill_id")
@click.option("--reason", default="", help="Shown on the credit note.")
def bill_cancel(bill_id: str, reason: str) -> None:
    """Cancel a COMPLETE bill with a credit note; its segments become CANCELED."""
    from billing.invoicing.adjustments import cancel_bill
    from billing.settings import business_today

    with _engine().begin() as conn:
        number = cancel_bill(conn, bill_id, reason, business_today())
    click.echo(f"bill {bill_id} cancelled by credit note {number}")


@main.group(cls=_Group)
def payments() -> None:
    """Payment files: load one now (the payment sensor loads those dropped in inbox/payments)."""


@payments.command("load")
@click.argument("payment_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def payments_load(payment_file: Path) -> None:
    """Run the load of PAYMENT_FILE here (staged in processing/payments, out of the sensor's
    sight): good rows recorded once, bad rows to quarantine/payments/FILE_ID.rejected.csv with
    their reasons."""
    import shutil

    from billing.payments.intake import file_id, inbox_folder, staging_folder
    from jobs.launch import dagster_instance, run_payment_file

    _engine()
    paths = billing_paths().ensure()
    folder = staging_folder(paths)
    folder.mkdir(parents=True, exist_ok=True)
    target = payment_file if payment_file.resolve().parent == inbox_folder(paths).resolve() else \
        folder / payment_file.name
    if payment_file.resolve() != target.resolve():
        partial = folder / f".{payment_file.name}.partial"
        shutil.copyfile(payment_file, partial)
        partial.replace(target)
    if not _print_outcome(f"payment file {payment_file.name}: run", run_payment_file(dagster_instance(),
                                                                                     file_id(target))):
        sys.exit(1)


@main.group(cls=_Group)
def account() -> None:
    """Accounts: grant a grace date before an overdue account is suspended."""


@account.command("grace")
@click.argument("account_id")
@click.option("--until", "until", callback=_date, required=True, help="YYYY-MM-DD: no overdue suspension until "
              "then; customers are warned before it (WarnGraceDate); cleared once past (ResetGraceDates).")
def account_grace(account_id: str, until: date) -> None:
    """Grant ACCOUNT_ID a grace date."""
    from sqlalchemy import update

    from billing.db.schema import accounts

    with _engine().begin() as conn:
        found = conn.execute(update(accounts).where(accounts.c.account_id == account_id)
                             .values(grace_dt=until)).rowcount
    if not found:
        raise BillingError(f"account {account_id} is unknown: check the id, or load it with `billing reference load`")
    click.echo(f"account {account_id}: grace date {until}")


@main.command("instance-config")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="Write it there (e.g. "
              "$DAGSTER_HOME/dagster.yaml) instead of printing it.")
def instance_config(out: Path | None) -> None:
    """The production Dagster instance (dagster.yaml) for the batch configuration in force: PostgreSQL storage,
    the run queue at max_parallel_batches, one run per partition, charge-writing steps one at a time, run
    monitoring."""
    from billing.operations.config import load_config
    from billing.operations.instance import instance_yaml

    config = load_config(billing_paths().home)
    text = instance_yaml(config)
    files = config.logging.log_destinations.file_logging
    if files.enabled and not Path(files.log_directory).is_dir():
        click.echo(f"warning: {files.log_directory} (logging.log_destinations.file_logging) does not exist here: create "
                   "it, writable by the daemon and its run workers, before Dagster starts with this file", err=True)
    if out is None:
        click.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}")


@main.group(cls=_Group)
def breaker() -> None:
    """Circuit breakers: a sensor whose runs keep failing stops launching until it is reset."""


@breaker.command("status")
def breaker_status() -> None:
    """Each breaker: closed, or open since when and why."""
    from billing.operations.breaker import BREAKERS, breaker_state

    with _engine().connect() as conn:
        for name, what in BREAKERS.items():
            state = breaker_state(conn, name)
            shown = f"OPEN since {state.opened_at:%Y-%m-%d %H:%M:%S} UTC: {state.reason}" if state.is_open else "closed"
            reset = f" (last reset {state.reset_at:%Y-%m-%d %H:%M:%S} UTC by {state.reset_by})" if state.reset_at else ""
            click.echo(f"{name} — {what}: {shown}{reset}")


@breaker.command("reset")
@click.argument("name")
def breaker_reset(name: str) -> None:
    """Close breaker NAME (e.g. feeds) once the cause of the failures is fixed."""
    from datetime import datetime, timezone

    from billing.operations.breaker import reset_breaker
    from billing.settings import operator_name

    with _engine().begin() as conn:
        before = reset_breaker(conn, name, operator_name(), datetime.now(timezone.utc))
    click.echo(f"breaker {name}: closed" + ("" if before.is_open else " (it was not open)")
               + "; only failures from now on count")


@main.group(cls=_Group)
def invoice() -> None:
    """Invoices: preview an account's next one."""


@invoice.command("preview")
@click.argument("account_id")
@click.option("--as-of", callback=_date, help="Preview the first bill on or after this date (default today).")
def invoice_preview(account_id: str, as_of: date | None) -> None:
    """What ACCOUNT's next bill would be, computed by the real bill run and written nowhere."""
    from billing.invoicing.preview import preview_bill
    from billing.settings import business_today

    preview = preview_bill(_engine(), account_id, as_of or business_today())
    if preview.bill is None:
        click.echo(f"account {account_id}: nothing to bill on its next bill date {preview.bill_dt} (or it is "
                   f"already billed that day)")
        return
    b = preview.bill
    click.echo(f"account {account_id}: next bill {b.bill_dt} for {b.window_start} … {b.window_end}, due {b.due_dt}")
    for line in preview.segments:
        what = line.description or f"{line.price_item_cd} {line.start_dt} … {line.end_dt}"
        amount = line.amount if line.status != "ERROR" else f"ERROR: {line.message}"
        converted = f" ({line.charge_amount} {line.charge_currency_cd})" if line.charge_currency_cd != b.currency_cd \
            else ""
        click.echo(f"  charge {line.bill_chg_id:>10}  {what:<40} {amount}{converted}")
    click.echo(f"  subtotal {b.subtotal} {b.currency_cd}; tax {b.tax_amount}; total {b.total_amount} {b.currency_cd}")


DEMO_CLOSE_DAYS = 31


def _close_demo_month() -> bool:
    """Close the month up to the demo's business day, day by day: recurring charges of the
    sample services, invoices of every bill cycle (C28 on 10-28, C01 on 11-01, C15 on 11-15,
    C21 on the demo day), notices — one daily partition of each close-of-day asset per day."""
    from billing.closeofday.days import days_to_close
    from billing.demo.feeds import DEMO_BUSINESS_DATE
    from billing.settings import business_today

    if DEMO_BUSINESS_DATE > business_today():
        click.echo(f"close of day {DEMO_BUSINESS_DATE} skipped: that day has not begun yet here")
        return True
    with _engine().begin() as conn:
        days = days_to_close(conn, DEMO_BUSINESS_DATE,
                             first=DEMO_BUSINESS_DATE - timedelta(days=DEMO_CLOSE_DAYS - 1))
    return _close_days(days, review_days=0)


@main.command()
def status() -> None:
    """Feeds, transactions, charges and bills by status."""
    from billing.invoicing.report import bill_totals
    from billing.tfm.report import charges_by_status, feeds_by_status, legs_by_status, transactions_by_status

    with _engine().connect() as conn:
        click.echo("feeds:        " + (", ".join(f"{s} {n}" for s, n in feeds_by_status(conn).items()) or "none"))
        click.echo("transactions:")
        for status_, entry in transactions_by_status(conn).items():
            click.echo(f"  {status_:<5} {entry['count']:>9}  amount {entry['amount']}")
        click.echo("legs:         " + (", ".join(f"{s} {n}" for s, n in legs_by_status(conn).items()) or "none"))
        click.echo("charges:")
        for row in charges_by_status(conn):
            click.echo(
                f"  {row['status']:<9} aggregated={row['aggregated']} {row['currency']} {row['charges']:>7} charges "
                f"for {row['transactions']:>8} transactions, amount {row['amount']}"
            )
        click.echo("bills:")
        for key, value in bill_totals(conn).items():
            click.echo(f"  {key:<13} {value['bills']:>7} bills, total {value['total']}")


@main.command()
@click.option("--feeds", "feed_count", default=3, show_default=True, help="Number of feeds to generate.")
@click.option("--rows", default=5000, show_default=True, help="Transactions per feed.")
@click.option("--reference", "reference_folder", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=SAMPLE_REFERENCE, show_default=True, help="Reference data folder to load.")
def demo(feed_count: int, rows: int, reference_folder: Path) -> None:
    """The main job: sample reference data and feeds, processed end to end, then a summary."""
    from billing.demo.feeds import DEMO_BUSINESS_DATE, write_demo_feeds

    paths = billing_paths().ensure()
    _engine(create=True)
    click.echo(f"BILLING_HOME {paths.home}; database {display_url(database_url())}")
    ok = _load_reference(reference_folder)
    for control in write_demo_feeds(paths.home / "demo_feeds", feed_count, rows):
        ok = _process(control, DEMO_BUSINESS_DATE) and ok
    ok = _close_demo_month() and ok
    click.echo("")
    status.callback()
    if not ok:
        sys.exit(1)

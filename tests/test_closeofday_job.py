"""The close-of-day job and the payment job through the real Dagster instance: each step's
counts as metadata, dbck's severe findings stopping the day, payment files loaded from the
inbox by the sensor's runs (the state after each step is worked out in
tests/test_closeofday_steps.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from click.testing import CliRunner
from dagster import AssetKey, DagsterInstance, build_sensor_context
from sqlalchemy import update

from billing.cli import main
from billing.db.schema import accounts, bill, bill_chg, closeofday_log, payment
from billing.payments.intake import file_id
from definitions import defs
from jobs.launch import dagster_instance
from sensors.payments import payment_sensor
from tests.closeofday_world import ACCOUNT_HEADER, SERVICE_HEADER, completed_bill, load
from tests.world import rows

DAY = date(2026, 3, 10)
WORLD = {
    "accounts": ACCOUNT_HEADER + "A1,P1,US,USD,C1,OPEN,,,2025-01-01,,14,,a1@example.com\n",
    "services": SERVICE_HEADER + "S1,A1,NEW,Fibre,PROSPECTIVE,2026-03-10,,MONTHLY,31.00,,,,\n",
}


def _cli(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _metadata(instance: DagsterInstance, asset: str, day: date) -> dict:
    event = instance.get_latest_materialization_event(AssetKey(asset))
    assert event.dagster_event.partition == day.isoformat()
    return {key: value.value for key, value in event.asset_materialization.metadata.items()}


def test_a_day_through_the_job_counts_each_step_in_its_metadata(engine, billing_home, tmp_path):
    load(engine, tmp_path / "reference", WORLD)
    result = _cli("closeofday", "--date", DAY.isoformat())
    assert result.exit_code == 0, result.output
    instance = DagsterInstance.get()
    assert _metadata(instance, "tax_rates_in_effect", DAY) == {"UpdateTaxRates": 2}
    assert _metadata(instance, "entity_statuses", DAY)["OpenFutureStartdateServices"] == 1
    assert _metadata(instance, "recurring_charges", DAY) == {"BillServices": 1}  # 31.00 × 22/31
    assert _metadata(instance, "checked_database", DAY) == {"last_day_closed": "none: the first day"}
    assert rows(engine, bill_chg, "service_id", "charge_amount") == [("S1", D("22.00"))]

    again = _cli("closeofday", "--date", DAY.isoformat())
    assert again.exit_code == 0, again.output
    assert _metadata(instance, "recurring_charges", DAY) == {"BillServices": 0}


def test_a_step_materialized_on_its_own_keeps_the_days_in_order(engine, billing_home, tmp_path):
    load(engine, tmp_path / "reference", WORLD)
    assert _cli("closeofday", "--date", DAY.isoformat()).exit_code == 0
    later = date(2026, 3, 12)  # 03-11 is not closed
    result = defs.resolve_job_def("closeofday_job").get_subset(
        asset_selection={AssetKey("recurring_charges")}).execute_in_process(
        instance=dagster_instance(), partition_key=later.isoformat(), raise_on_error=False)
    assert not result.success
    [failure] = result.get_step_failure_events()
    assert "the last day closed is 2026-03-10, so 2026-03-11 comes first" in failure.step_failure_data.error.message
    assert rows(engine, bill_chg, "start_dt", where=bill_chg.c.source == "RECURRING") == [(DAY,)]


def test_severe_database_problems_stop_the_day_until_fixed(engine, billing_home, tmp_path):
    load(engine, tmp_path / "reference", WORLD)
    with engine.begin() as conn:
        completed_bill(conn, "X1", "A1", date(2026, 2, 1), date(2026, 2, 15), D("10.00"))
        conn.execute(update(bill).where(bill.c.bill_id == "X1").values(total_amount=D("11.00")))
    stopped = _cli("closeofday", "--date", DAY.isoformat())
    assert stopped.exit_code == 1
    assert ("check dbck_severe failed: bill totals add up: bill X1: subtotal 10.00 + tax 0 vs total 11.00; its "
            "segments sum to 10.00") in stopped.output
    assert rows(engine, closeofday_log, "business_dt") == []
    assert rows(engine, bill_chg, "service_id", where=bill_chg.c.source == "RECURRING") == []  # nothing after dbck

    with engine.begin() as conn:
        conn.execute(update(bill).where(bill.c.bill_id == "X1").values(total_amount=D("10.00")))
    assert _cli("closeofday", "--date", DAY.isoformat()).exit_code == 0
    assert rows(engine, closeofday_log, "business_dt") == [(DAY,)]


def test_the_payment_sensor_loads_each_file_of_the_inbox_once(engine, billing_home, tmp_path):
    load(engine, tmp_path / "reference", WORLD)
    folder = billing_home.inbox / "payments"
    folder.mkdir(parents=True)
    (folder / "bank-1.csv").write_text("account_id,amount,payment_dt,reference\nA1,12.50,2026-03-09,T1\n"
                                       "NOPE,1.00,2026-03-09,T2\n", encoding="utf-8")
    key = file_id(folder / "bank-1.csv")
    instance = dagster_instance()
    tick = payment_sensor(build_sensor_context(instance=instance, resources={
        "inbox": defs.resources["inbox"], "database": defs.resources["database"]}))
    assert [request.partition_key for request in tick.run_requests] == [key]
    assert [request.run_key for request in tick.run_requests] == [key]
    instance.add_dynamic_partitions("payment_files", [key])
    result = defs.resolve_job_def("payments_job").execute_in_process(instance=instance, partition_key=key)
    assert result.success
    metadata = result.asset_materializations_for_node("payments")[0].metadata
    assert (metadata["accepted"].value, metadata["rejected"].value, metadata["amount"].value) == (1, 1, "12.50")
    assert rows(engine, payment, "account_id", "amount", "reference") == [("A1", D("12.50"), "T1")]
    assert (billing_home.quarantine / "payments" / f"{key}.rejected.csv").is_file()
    archived = billing_home.archive / "payments" / key / "bank-1.csv"

    # the same bytes through the CLI: recognised, nothing recorded twice
    (tmp_path / "bank-1.csv").write_text(archived.read_text())
    again = _cli("payments", "load", str(tmp_path / "bank-1.csv"))
    assert again.exit_code == 0, again.output
    assert rows(engine, payment, "account_id", "amount", "reference") == [("A1", D("12.50"), "T1")]
    # … and dropped in the inbox again: the sensor launches nothing and archives the copy
    (folder / "bank-1.csv").write_text(archived.read_text())
    tick = payment_sensor(build_sensor_context(instance=instance, resources={
        "inbox": defs.resources["inbox"], "database": defs.resources["database"]}))
    assert not list(folder.iterdir()) and not getattr(tick, "run_requests", None)

    granted = _cli("account", "grace", "A1", "--until", "2026-03-20")
    assert granted.output == "account A1: grace date 2026-03-20\n"
    assert rows(engine, accounts, "grace_dt") == [(date(2026, 3, 20),)]
    assert _cli("account", "grace", "ZZ", "--until", "2026-03-20").exit_code == 2

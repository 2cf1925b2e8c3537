"""Rollback (C1-TXNRB) then re-aggregation, on the world of ``tests/world.py``.

Feed "first" (all values by hand, pricing of tests/world.py):
  W1  A1     WIRE 1000.00 → A1 WIRE_FEE (RITA 0.1 %) 1.00; PARENT1 WIRE_PARENT (AGTR, person P1: 0.10 a txn)
  W2  A2     WIRE  500.00 → A2 WIRE_FEE 0.50; PARENT1 WIRE_PARENT
  C1  A1     CARD   80.00 → A1 CARD_FEE (RITX 1 %, min 0.25) 0.80; FEES INTERCHANGE IGNR
  E1  LATE1  WIRE 2000.00 → EROR: account LATE1 unknown
  E2  NOCON  CARD   50.00 → EROR: NOCON has no CARDS contract (leg 1); its INTERCHANGE leg 2 is IGNR
  I1  A1     INFO   10.00 → IGNR (INFO_FEE ignores every transaction)
PARENT1's WIRE_PARENT charge: 2 transactions, 1500.00, amount 2 × 0.10 = 0.20.

The fix: account LATE1 (person P1, parent PARENT1) and a CARDS contract for NOCON. After the
rollback and re-aggregation: E1 adds LATE1 WIRE_FEE 2.00 and grows PARENT1's charge by
exactly its amount (3 transactions, 3500.00, 0.30); E2 gets NOCON CARD_FEE 0.50 and keeps
its IGNR leg 2 aside (same leg, not derived again).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from click.testing import CliRunner
from dagster import AssetKey, DagsterInstance, SkipReason, build_sensor_context
from sqlalchemy import update

import billing.tfm.rollback
from billing.cli import main
from billing.db.schema import bill_chg, txn_leg
from billing.reference.loader import load_reference
from billing.tfm.invariants import charge_sqis_match_legs, comp_legs_on_one_charge
from billing.tfm.pricing import refresh_effective_pricing
from definitions import defs
from jobs.launch import run_feed_job, run_rollback
from resources import BillingDatabase
from sensors.reaggregation import reaggregation_sensor
from tests.corrections import billing_state, charges, follow_up, killed_after, legs, transaction_statuses, twin_database
from tests.world import BUSINESS_DATE, load_world, rows, run_feed, write_feed

FIRST = [
    "W1,2026-11-05T10:00:00,A1,WIRE,USD,1000.00,1,",
    "W2,2026-11-06T10:00:00,A2,WIRE,USD,500.00,1,",
    "C1,2026-11-06T11:00:00,A1,CARD,USD,80.00,1,POS",
    "E1,2026-11-07T09:00:00,LATE1,WIRE,USD,2000.00,1,",
    "E2,2026-11-07T09:30:00,NOCON,CARD,USD,50.00,1,POS",
    "I1,2026-11-08T09:00:00,A1,INFO,USD,10.00,1,",
]
NOV = ("2026-11-01", "2026-11-30")

BEFORE = sorted([
    ("A1", "WIRE_FEE", "", *NOV, "BILLABLE", 1, "1.00", "1000.00", "1.00"),
    ("A2", "WIRE_FEE", "", *NOV, "BILLABLE", 1, "1.00", "500.00", "0.50"),
    ("PARENT1", "WIRE_PARENT", "", *NOV, "BILLABLE", 2, "2.00", "1500.00", "0.20"),
    ("A1", "CARD_FEE", "POS", "2026-11-06", "2026-11-06", "BILLABLE", 1, "1.00", "80.00", "0.80"),
], key=repr)
AFTER = sorted([
    ("A1", "WIRE_FEE", "", *NOV, "BILLABLE", 1, "1.00", "1000.00", "1.00"),
    ("A2", "WIRE_FEE", "", *NOV, "BILLABLE", 1, "1.00", "500.00", "0.50"),
    ("PARENT1", "WIRE_PARENT", "", *NOV, "BILLABLE", 3, "3.00", "3500.00", "0.30"),
    ("A1", "CARD_FEE", "POS", "2026-11-06", "2026-11-06", "BILLABLE", 1, "1.00", "80.00", "0.80"),
    ("LATE1", "WIRE_FEE", "", *NOV, "BILLABLE", 1, "1.00", "2000.00", "2.00"),
    ("NOCON", "CARD_FEE", "POS", "2026-11-07", "2026-11-07", "BILLABLE", 1, "1.00", "50.00", "0.50"),
], key=repr)

FIX = {
    "accounts": "account_id,person_id,division_cd,currency_cd,bill_cycle_cd,status,parent_account_id,price_list_cd,"
    "start_dt,end_dt,payment_terms_days,tax_cd,email\nLATE1,P1,US,USD,C1,OPEN,PARENT1,,2025-01-01,,,,\n",
    "contracts": "contract_id,account_id,contract_type,status,start_dt,end_dt\nK8,NOCON,CARDS,ACTIVE,2025-01-01,\n",
}


@pytest.fixture
def first_feed(engine, billing_home, tmp_path, pinned_business_day):
    load_world(engine, tmp_path / "reference")
    instance = DagsterInstance.ephemeral()
    header_id, outcome = run_feed(billing_home, write_feed(tmp_path / "drop", "first", FIRST), instance=instance)
    assert outcome.success, outcome.failures
    return header_id, instance


def _fix_reference(engine, folder):
    fixes = folder / "fixes"
    fixes.mkdir(parents=True)
    for name, text in FIX.items():
        (fixes / f"{name}.csv").write_text(text, encoding="utf-8")
    load_reference(engine, fixes)
    with engine.begin() as conn:
        refresh_effective_pricing(conn)


def _roll_back(engine, instance, **config):
    outcome = run_rollback(instance, {"status": "EROR", **config})
    assert outcome.success, outcome.failures
    follow_up(engine, instance)


def test_fixed_reference_data_rolled_back_and_reaggregated_completes_the_errors(engine, first_feed, tmp_path):
    header_id, instance = first_feed
    assert charges(engine) == BEFORE
    assert transaction_statuses(engine, header_id) == {"W1": "COMP", "W2": "COMP", "C1": "COMP", "E1": "EROR",
                                                       "E2": "EROR", "I1": "IGNR"}
    interchange = [leg for leg in legs(engine, header_id) if leg[2] == "INTERCHANGE"]
    assert [leg[3:] for leg in interchange] == [("IGNR", False), ("IGNR", False)]  # C1's and E2's
    parent_before = {c[1:3]: c[0] for c in charges(engine, with_ids=True)}[("PARENT1", "WIRE_PARENT")]

    _fix_reference(engine, tmp_path)
    _roll_back(engine, instance, feed=header_id)

    assert charges(engine) == AFTER
    assert transaction_statuses(engine, header_id) == {**dict.fromkeys(("W1", "W2", "C1", "E1", "E2"), "COMP"),
                                                       "I1": "IGNR"}
    assert {c[1:3]: c[0] for c in charges(engine, with_ids=True)}[("PARENT1", "WIRE_PARENT")] == parent_before
    # E2's ignored INTERCHANGE leg was kept aside, not derived again: the same leg, still IGNR.
    assert [leg for leg in legs(engine, header_id) if leg[2] == "INTERCHANGE"] == interchange

    done = billing_state(engine)
    _roll_back(engine, instance, feed=header_id)  # run twice: nothing left to roll back
    assert billing_state(engine) == done


def test_a_rollback_killed_part_way_then_rerun_ends_like_a_clean_one(engine, first_feed, billing_home, tmp_path,
                                                                     db_url, monkeypatch):
    header_id, instance = first_feed
    _fix_reference(engine, tmp_path)
    _roll_back(engine, instance)
    clean = billing_state(engine)

    # The same day in a second database: a rollback that dies inside its step, then a
    # re-aggregation stopped after C1-TXNIP, then everything run again.
    twin = twin_database(db_url, tmp_path, monkeypatch)
    load_world(twin, tmp_path / "twin-reference")
    instance = DagsterInstance.ephemeral()
    header_id, outcome = run_feed(billing_home, write_feed(tmp_path / "again", "first", FIRST), instance=instance)
    assert outcome.success
    _fix_reference(twin, tmp_path / "twin")
    with killed_after(monkeypatch, billing.tfm.rollback, "bump_reprocess"):  # dies inside C1-TXNRB
        failed = run_rollback(instance, {"status": "EROR"})
        assert not failed.success and any("killed right after" in f for f in failed.failures)
    assert transaction_statuses(twin, header_id)["E1"] == "EROR"  # the step's transaction was undone

    outcome = run_rollback(instance, {"status": "EROR"})
    assert outcome.success
    partial = defs.resolve_job_def("aggregation_job").execute_in_process(
        instance=instance, partition_key=header_id,
        asset_selection=[AssetKey(k) for k in ("staged_feed", "validated_header", "validated_transactions",
                                               "transaction_legs")],
        run_config={"ops": {"validate_transactions_and_derive_legs": {"config": {"business_date": "2026-11-21"}}}},
    )
    assert partial.success
    follow_up(twin, instance)
    assert run_feed_job(instance, "aggregation_job", header_id, BUSINESS_DATE).success
    assert billing_state(twin) == clean
    twin.dispose()


def test_the_command_refuses_a_from_date_after_the_to_date_and_rolls_back_ignored_ones(engine, first_feed):
    header_id, _ = first_feed
    refused = CliRunner().invoke(main, ["rollback", "--status", "EROR", "--from", "2026-11-08", "--to",
                                        "2026-11-07"])
    assert refused.exit_code == 2
    assert "later than the to date" in refused.output
    # I1 goes back to staging, its leg and exception with it, and is ignored again by the same
    # pricing: every table as before but the feed's reprocessing generation and the number of
    # the summary its leg went through.
    changing = {"txn_header", "id_allocator", "txn_leg"}
    leg_columns = [c.name for c in txn_leg.columns if c.name != "summary_id"]
    before = billing_state(engine), rows(engine, txn_leg, *leg_columns)
    done = CliRunner().invoke(main, ["rollback", "--status", "IGNR", "--feed", header_id, "--from", "2026-11-08"])
    assert done.exit_code == 0, done.output
    assert "rollback run" in done.output and f"re-aggregation of feed {header_id}" in done.output
    after = billing_state(engine), rows(engine, txn_leg, *leg_columns)
    assert after[1] == before[1]
    assert {k: v for k, v in after[0].items() if k not in changing} == \
        {k: v for k, v in before[0].items() if k not in changing}
    assert transaction_statuses(engine, header_id)["I1"] == "IGNR"


def test_the_reaggregation_sensor_runs_each_feed_with_transactions_back_in_staging(engine, first_feed, tmp_path,
                                                                                   pinned_business_day):
    header_id, instance = first_feed
    _fix_reference(engine, tmp_path)
    assert run_rollback(instance, {"status": "EROR"}).success
    context = build_sensor_context(instance=instance, resources={"database": BillingDatabase()})
    result = reaggregation_sensor(context)
    assert [(r.partition_key, r.run_key) for r in result.run_requests] == [
        (header_id, f"reaggregate:{header_id}:1:{pinned_business_day}")]
    follow_up(engine, instance)
    assert isinstance(reaggregation_sensor(context), SkipReason)


def test_the_invariants_name_a_charge_whose_sqis_drift_from_its_legs(engine, first_feed):
    header_id, _ = first_feed
    with engine.connect() as conn:
        assert charge_sqis_match_legs(conn) == [] and charge_sqis_match_legs(conn, [header_id]) == []
        assert comp_legs_on_one_charge(conn) == []
    parent = [c[0] for c in charges(engine, with_ids=True) if c[1] == "PARENT1"][0]
    with engine.begin() as conn:
        conn.execute(update(bill_chg).where(bill_chg.c.bill_chg_id == parent).values(txn_amount=Decimal("1500.01")))
    with engine.connect() as conn:
        expected = [f"charge {parent}: SQIs (2, 2, 1500.01) differ from its COMP legs (2, 2, 1500.00)"]
        assert charge_sqis_match_legs(conn) == expected
        assert charge_sqis_match_legs(conn, [header_id]) == expected

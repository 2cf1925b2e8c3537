"""Re-rating after a price change: disaggregate, re-aggregate, rebuild (DESIGN §6).

The world of the cancellation tests (A1, A2, PARENT1 billed on the 21st; November cut into
1–15 and 16–30). One feed, values by hand:

  W1 A1 WIRE 1000.00 11-05 · C1 A1 CARD 40.00 11-06 (POS) · W3 A2 WIRE 500.00 11-10 ·
  W4 A1 WIRE 2000.00 11-16

  charge                               old prices (0.1 %)   new prices (0.2 % from 11-10)
  A1 WIRE_FEE 11-01…15 (W1)            1000.00  1.00        1.00 (W1 is before 11-10)
  A1 CARD_FEE POS 11-06 (C1)             40.00  0.40        0.40
  A2 WIRE_FEE 11-01…15 (W3)             500.00  0.50        1.00
  A1 WIRE_FEE 11-16…30 (W4)            2000.00  2.00        4.00
  PARENT1 WIRE_PARENT 11-01…15 (W1 W3)  2 txns  0.20        0.20 (its pricing did not change)
  PARENT1 WIRE_PARENT 11-16…30 (W4)     1 txn   0.10        0.10

The new price: PA_WIRE ends on 11-09 and PA_WIRE2 charges 0.2 % from 11-10. Bills of
2026-11-21 (first periods only): A1 1.00 + 0.40 = 1.40, A2 0.50 → 1.00, PARENT1 0.20.
"""

from __future__ import annotations

from datetime import date

import pytest
from click.testing import CliRunner
from dagster import AssetKey, DagsterInstance, RunRequest, SkipReason, build_sensor_context
from sqlalchemy import select

import billing.tfm.disaggregation
from billing.cli import main
from billing.db.schema import bill, bill_segment, disagg_req
from billing.invoicing.adjustments import cancel_bill
from billing.reference.loader import load_reference
from billing.tfm.pricing import refresh_effective_pricing
from definitions import defs
from jobs.launch import run_closeofday, run_disaggregation
from resources import BillingDatabase
from sensors.pricing_changes import pricing_change_sensor
from tests.corrections import billing_state, charges, follow_up, killed_after, transaction_statuses, twin_database
from tests.test_cancellation import BILL_DAY, P1, _billed_on_the_21st, _bills
from tests.world import REFERENCE, rows, run_feed, write_feed

FEED = [
    "W1,2026-11-05T10:00:00,A1,WIRE,USD,1000.00,1,",
    "C1,2026-11-06T11:00:00,A1,CARD,USD,40.00,1,POS",
    "W3,2026-11-10T11:00:00,A2,WIRE,USD,500.00,1,",
    "W4,2026-11-16T10:00:00,A1,WIRE,USD,2000.00,1,",
]
P2 = ("2026-11-16", "2026-11-30")
OLD = sorted([
    ("A1", "WIRE_FEE", "", *P1, "BILLABLE", 1, "1.00", "1000.00", "1.00"),
    ("A1", "CARD_FEE", "POS", "2026-11-06", "2026-11-06", "BILLABLE", 1, "1.00", "40.00", "0.40"),
    ("A2", "WIRE_FEE", "", *P1, "BILLABLE", 1, "1.00", "500.00", "0.50"),
    ("A1", "WIRE_FEE", "", *P2, "BILLABLE", 1, "1.00", "2000.00", "2.00"),
    ("PARENT1", "WIRE_PARENT", "", *P1, "BILLABLE", 2, "2.00", "1500.00", "0.20"),
    ("PARENT1", "WIRE_PARENT", "", *P2, "BILLABLE", 1, "1.00", "2000.00", "0.10"),
], key=repr)
NEW = sorted([
    ("A1", "WIRE_FEE", "", *P1, "BILLABLE", 1, "1.00", "1000.00", "1.00"),
    ("A1", "CARD_FEE", "POS", "2026-11-06", "2026-11-06", "BILLABLE", 1, "1.00", "40.00", "0.40"),
    ("A2", "WIRE_FEE", "", *P1, "BILLABLE", 1, "1.00", "500.00", "1.00"),
    ("A1", "WIRE_FEE", "", *P2, "BILLABLE", 1, "1.00", "2000.00", "4.00"),
    ("PARENT1", "WIRE_PARENT", "", *P1, "BILLABLE", 2, "2.00", "1500.00", "0.20"),
    ("PARENT1", "WIRE_PARENT", "", *P2, "BILLABLE", 1, "1.00", "2000.00", "0.10"),
], key=repr)
OLD_WIRE = "PA_WIRE,PRICE_LIST,STD,WIRE_FEE,,2025-01-01,,USD,N,Y,RITA,M,TXN_AMOUNT,FLAT,0.001,,,,,"
NEW_PRICING = REFERENCE["pricing"].replace(
    OLD_WIRE, OLD_WIRE.replace("2025-01-01,,", "2025-01-01,2026-11-09,") + "\n"
    + "PA_WIRE2,PRICE_LIST,STD,WIRE_FEE,,2026-11-10,,USD,N,Y,RITA,M,TXN_AMOUNT,FLAT,0.002,,,,,")
assert NEW_PRICING != REFERENCE["pricing"]


@pytest.fixture
def world(engine, billing_home, tmp_path):
    load_reference(engine, _billed_on_the_21st(tmp_path / "reference"))
    return engine


def _feed_billed(engine, billing_home, folder, review_days: int):
    instance = DagsterInstance.ephemeral()
    header_id, outcome = run_feed(billing_home, write_feed(folder, "feed", FEED), instance=instance)
    assert outcome.success, outcome.failures
    outcome = run_closeofday(instance, BILL_DAY, review_days)
    assert outcome.success, outcome.failures
    return header_id, instance


def _change_prices(engine, folder):
    folder.mkdir(parents=True)
    (folder / "pricing.csv").write_text(NEW_PRICING, encoding="utf-8")
    load_reference(engine, folder)
    with engine.begin() as conn:
        refresh_effective_pricing(conn)


def _disaggregate(engine, instance, **config):
    outcome = run_disaggregation(instance, {"from_date": "2026-11-10", **config})
    assert outcome.success, outcome.failures
    follow_up(engine, instance)


def _bill_rows(engine):
    return rows(engine, bill, "bill_id", "account_id", "status", "total_amount"), \
        rows(engine, bill_segment, "bseg_id", "bill_chg_id", "status", "amount")


def test_a_price_change_re_rated_equals_a_fresh_database_at_the_new_prices(world, billing_home, tmp_path,
                                                                           db_url, monkeypatch):
    header_id, instance = _feed_billed(world, billing_home, tmp_path / "drop", review_days=5)
    assert charges(world) == OLD
    assert _bills(world) == [("A1", "PENDING", "1.40"), ("A2", "PENDING", "0.50"), ("PARENT1", "PENDING", "0.20")]

    _change_prices(world, tmp_path / "new-prices")
    _disaggregate(world, instance)
    assert charges(world) == NEW
    assert _bills(world) == [("A1", "PENDING", "1.40"), ("A2", "PENDING", "1.00"), ("PARENT1", "PENDING", "0.20")]
    assert transaction_statuses(world, header_id) == dict.fromkeys(("W1", "C1", "W3", "W4"), "COMP")
    assert {r[0] for r in rows(world, disagg_req, "status")} == {"COMPLETE"}
    done = billing_state(world)
    _disaggregate(world, instance)  # twice: every leg is priced by the current pricing, nothing to do
    assert billing_state(world) == done

    # A fresh database loaded with the new prices from the start makes the same charges and bills.
    fresh = twin_database(db_url, tmp_path, monkeypatch)
    load_reference(fresh, _billed_on_the_21st(tmp_path / "fresh-reference"))
    _change_prices(fresh, tmp_path / "fresh-prices")
    _feed_billed(fresh, billing_home, tmp_path / "fresh-drop", review_days=5)
    assert charges(fresh) == NEW
    assert _bills(fresh) == _bills(world)
    fresh.dispose()


def test_a_disaggregation_stopped_and_killed_part_way_ends_like_a_clean_one(world, billing_home, tmp_path, db_url,
                                                                            monkeypatch):
    _, instance = _feed_billed(world, billing_home, tmp_path / "clean", review_days=5)
    _change_prices(world, tmp_path / "clean-prices")
    _disaggregate(world, instance)
    clean = billing_state(world)

    twin = twin_database(db_url, tmp_path, monkeypatch)
    load_reference(twin, _billed_on_the_21st(tmp_path / "twin-reference"))
    _, instance = _feed_billed(twin, billing_home, tmp_path / "twin", review_days=5)
    _change_prices(twin, tmp_path / "twin-prices")
    stopped = defs.resolve_job_def("disaggregation_job").execute_in_process(
        instance=instance, run_config={"ops": {"disaggregation_requests": {"config": {"from_date": "2026-11-10"}}}},
        asset_selection=[AssetKey(k) for k in ("disaggregation_requests", "disagg_bill_segments_deleted",
                                               "disagg_pending_bills_deleted", "disaggregated_legs")])
    assert stopped.success
    with killed_after(monkeypatch, billing.tfm.disaggregation, "bump_reprocess"):  # dies inside C1-PDTXN
        failed = run_disaggregation(instance, {"from_date": "2026-11-10"})
        assert not failed.success and any("killed right after" in f for f in failed.failures)
    _disaggregate(twin, instance)
    assert billing_state(twin) == clean
    twin.dispose()


def test_a_frozen_bill_stands_until_its_credit_note_then_its_charges_are_re_rated(world, billing_home, tmp_path):
    header_id, instance = _feed_billed(world, billing_home, tmp_path / "drop", review_days=0)
    assert _bills(world) == [("A1", "COMPLETE", "1.40"), ("A2", "COMPLETE", "0.50"),
                             ("PARENT1", "COMPLETE", "0.20")]
    invoiced = _bill_rows(world)

    _change_prices(world, tmp_path / "new-prices")
    _disaggregate(world, instance)
    # Only what no invoice holds is re-rated: W4's second-period charges.
    assert charges(world) == sorted([
        ("A1", "WIRE_FEE", "", *P1, "BILLABLE", 1, "1.00", "1000.00", "1.00"),
        ("A1", "CARD_FEE", "POS", "2026-11-06", "2026-11-06", "BILLABLE", 1, "1.00", "40.00", "0.40"),
        ("A2", "WIRE_FEE", "", *P1, "BILLABLE", 1, "1.00", "500.00", "0.50"),
        ("A1", "WIRE_FEE", "", *P2, "BILLABLE", 1, "1.00", "2000.00", "4.00"),
        ("PARENT1", "WIRE_PARENT", "", *P1, "BILLABLE", 2, "2.00", "1500.00", "0.20"),
        ("PARENT1", "WIRE_PARENT", "", *P2, "BILLABLE", 1, "1.00", "2000.00", "0.10"),
    ], key=repr)
    assert _bill_rows(world) == invoiced

    a2_bill = rows(world, bill, "bill_id", where=bill.c.account_id == "A2")[0][0]
    with world.begin() as conn:
        cancel_bill(conn, a2_bill, "re-rated after the price change", date(2026, 11, 21))
    _disaggregate(world, instance, account="A2")
    # The credited charge is CANCELED; W3 re-rated into a new charge at 0.2 % for A2's next bill.
    assert [c for c in charges(world) if c[0] == "A2"] == sorted([
        ("A2", "WIRE_FEE", "", *P1, "CANCELED", 1, "1.00", "500.00", "0.50"),
        ("A2", "WIRE_FEE", "", *P1, "BILLABLE", 1, "1.00", "500.00", "1.00"),
    ], key=repr)
    assert transaction_statuses(world, header_id) == dict.fromkeys(("W1", "C1", "W3", "W4"), "COMP")
    with world.connect() as conn:
        segments = dict(conn.execute(select(bill_segment.c.bill_id, bill_segment.c.status)
                                     .where(bill_segment.c.bill_id == a2_bill)).all())
    assert segments == {a2_bill: "CANCELED"}


def _new_prices_folder(folder):
    folder.mkdir(parents=True)
    (folder / "pricing.csv").write_text(NEW_PRICING, encoding="utf-8")
    return folder


def test_a_pricing_change_loaded_by_the_command_re_rates_the_accounts_it_reaches(world, billing_home, tmp_path):
    _feed_billed(world, billing_home, tmp_path / "drop", review_days=5)
    parent_charges = [c for c in charges(world, with_ids=True) if c[1] == "PARENT1"]
    loaded = CliRunner().invoke(main, ["reference", "load", str(_new_prices_folder(tmp_path / "new"))])
    assert loaded.exit_code == 0, loaded.output
    # PA_WIRE now ends on 11-09, PA_WIRE2 starts on 11-10: A1 (W4) and A2 (W3) have WIRE_FEE legs
    # from then on; PARENT1's WIRE_PARENT pricing did not change, its charges stay as they were.
    assert "2 price assignments changed; 2 accounts have transactions processed at the old prices" in loaded.output
    assert charges(world) == NEW
    assert [c for c in charges(world, with_ids=True) if c[1] == "PARENT1"] == parent_charges
    assert _bills(world) == [("A1", "PENDING", "1.40"), ("A2", "PENDING", "1.00"), ("PARENT1", "PENDING", "0.20")]


def test_the_pricing_change_sensor_creates_the_requests_then_offers_or_launches_the_job(world, billing_home,
                                                                                        tmp_path, monkeypatch):
    _, instance = _feed_billed(world, billing_home, tmp_path / "drop", review_days=5)
    load_reference(world, _new_prices_folder(tmp_path / "new"))
    with world.begin() as conn:
        refresh_effective_pricing(conn)
    context = build_sensor_context(instance=instance, resources={"database": BillingDatabase()})
    offered = pricing_change_sensor(context)
    assert isinstance(offered, SkipReason)
    assert "2 accounts wait to be re-rated from 2026-11-10" in offered.skip_message
    assert sorted((a, str(d), s) for a, d, s in rows(world, disagg_req, "account_id", "from_dt", "status")) == [
        ("A1", "2026-11-10", "PENDING"), ("A2", "2026-11-10", "PENDING")]
    monkeypatch.setenv("BILLING_REPRICING", "launch")
    launched = pricing_change_sensor(build_sensor_context(instance=instance, resources={"database": BillingDatabase()}))
    assert isinstance(launched, RunRequest) and launched.run_key.startswith("repricing:")
    assert run_disaggregation(instance, {}).success  # as launched: no from-date, the pending requests
    follow_up(world, instance)
    assert charges(world) == NEW

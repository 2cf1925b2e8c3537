"""Cancelling a feed whose aggregated charges it shares with another (DESIGN §6).

The world of ``tests/world.py`` with accounts A1, A2 and PARENT1 on a bill cycle closing on
the 21st and November cut into two aggregation periods (1–15, 16–30), so the close of day of
2026-11-21 bills the first one. Values by hand:

  feed first:  W1 A1 WIRE 1000.00 · T1 A1 ATM 100.00 volume 3 · C1 A1 CARD 40.00 (POS)
  feed second: W2 A1 WIRE 3000.00 · W3 A2 WIRE 500.00

  charge (period 11-01 … 11-15)   legs from      count volume  amount   charge
  A1 WIRE_FEE (RITA 0.1 %)        first, second  2     2       4000.00  1.00 + 3.00 = 4.00
  PARENT1 WIRE_PARENT (AGTR 0.10) first, second  3     3       4500.00  0.30
  A2 WIRE_FEE                     second         1     1        500.00  0.50
  A1 ATM_FEE (DNRT 2 a volume)    first          1     3        100.00  none (6.00 on the bill)
  A1 CARD_FEE POS 11-06 (RITX 1 %) first         1     1         40.00  0.40

Pending bills of 2026-11-21 (5 review days, no tax): A1 4.00 + 6.00 + 0.40 = 10.40;
A2 0.50; PARENT1 0.30. Cancelling "first" deletes A1's and PARENT1's bills (they hold its
charges), shrinks the shared charges to "second"'s legs (A1 WIRE_FEE 1, 3000.00, 3.00;
PARENT1 WIRE_PARENT 2, 3500.00, 0.20), deletes the ATM and CARD charges, leaves A2's bill
alone; the day run again bills A1 3.00 and PARENT1 0.20.
"""

from __future__ import annotations

from datetime import date

import pytest
from click.testing import CliRunner
from dagster import AssetKey, DagsterInstance, build_sensor_context

import billing.tfm.cancellation
from billing.cli import main
from billing.db.schema import bill, deleted_bill, txn_header, txn_leg
from billing.reference.loader import load_reference
from definitions import defs
from jobs.launch import run_closeofday, run_feed_job
from resources import BillingDatabase, FeedInbox
from sensors.bill_rebuilds import bill_rebuild_sensor
from sensors.cancellations import cancellation_sensor
from tests.corrections import billing_state, charges, follow_up, killed_after, transaction_statuses
from tests.world import REFERENCE, forget_feeds, rows, run_feed, write_feed, write_reference

BILL_DAY = date(2026, 11, 21)
FIRST = [
    "W1,2026-11-05T10:00:00,A1,WIRE,USD,1000.00,1,",
    "T1,2026-11-05T11:00:00,A1,ATM,USD,100.00,3,",
    "C1,2026-11-06T11:00:00,A1,CARD,USD,40.00,1,POS",
]
SECOND = [
    "W2,2026-11-10T10:00:00,A1,WIRE,USD,3000.00,1,",
    "W3,2026-11-10T11:00:00,A2,WIRE,USD,500.00,1,",
]
P1 = ("2026-11-01", "2026-11-15")
BOTH = sorted([
    ("A1", "WIRE_FEE", "", *P1, "BILLABLE", 2, "2.00", "4000.00", "4.00"),
    ("PARENT1", "WIRE_PARENT", "", *P1, "BILLABLE", 3, "3.00", "4500.00", "0.30"),
    ("A2", "WIRE_FEE", "", *P1, "BILLABLE", 1, "1.00", "500.00", "0.50"),
    ("A1", "ATM_FEE", "", *P1, "BILLABLE", 1, "3.00", "100.00", None),
    ("A1", "CARD_FEE", "POS", "2026-11-06", "2026-11-06", "BILLABLE", 1, "1.00", "40.00", "0.40"),
], key=repr)
SECOND_ONLY = sorted([
    ("A1", "WIRE_FEE", "", *P1, "BILLABLE", 1, "1.00", "3000.00", "3.00"),
    ("PARENT1", "WIRE_PARENT", "", *P1, "BILLABLE", 2, "2.00", "3500.00", "0.20"),
    ("A2", "WIRE_FEE", "", *P1, "BILLABLE", 1, "1.00", "500.00", "0.50"),
], key=repr)


def _billed_on_the_21st(folder):
    on_21 = {
        "bill_cycles": "bill_cycle_cd,close_day\nC1,1\nC21,21\n",
        "accounts": "\n".join(line.replace(",C1,", ",C21,") if line.split(",")[0] in ("A1", "A2", "PARENT1") else line
                              for line in REFERENCE["accounts"].splitlines()) + "\n",
        "aggregation_periods": "schedule_cd,period_start,period_end\nM,2026-11-01,2026-11-15\nM,2026-11-16,2026-11-30\n",
    }
    return write_reference(folder, on_21)


def _two_feeds_billed(engine, billing_home, folder, review_days: int):
    instance = DagsterInstance.ephemeral()
    first, outcome = run_feed(billing_home, write_feed(folder, "first", FIRST), instance=instance)
    assert outcome.success, outcome.failures
    second, outcome = run_feed(billing_home, write_feed(folder, "second", SECOND), instance=instance)
    assert outcome.success, outcome.failures
    outcome = run_closeofday(instance, BILL_DAY, review_days)
    assert outcome.success, outcome.failures
    return first, second, instance


@pytest.fixture
def world(engine, billing_home, tmp_path):
    load_reference(engine, _billed_on_the_21st(tmp_path / "reference"))
    return engine


def _bills(engine):
    return sorted((account, status, f"{total:.2f}") for account, status, total in
                  rows(engine, bill, "account_id", "status", "total_amount"))


def test_cancelling_a_feed_shrinks_shared_charges_and_rebuilds_its_pending_bills(world, billing_home, tmp_path):
    first, second, instance = _two_feeds_billed(world, billing_home, tmp_path / "drop", review_days=5)
    assert charges(world) == BOTH
    assert _bills(world) == [("A1", "PENDING", "10.40"), ("A2", "PENDING", "0.50"), ("PARENT1", "PENDING", "0.30")]
    a2_bill = rows(world, bill, "bill_id", where=bill.c.account_id == "A2")

    outcome = run_feed_job(instance, "cancellation_job", first)
    assert outcome.success, outcome.failures
    assert charges(world) == SECOND_ONLY
    assert _bills(world) == [("A2", "PENDING", "0.50")]
    assert rows(world, bill, "bill_id", where=bill.c.account_id == "A2") == a2_bill
    assert sorted(r[0] for r in rows(world, deleted_bill, "account_id", "request_type", "status")) == ["A1", "PARENT1"]
    assert rows(world, txn_header, "status", where=txn_header.c.header_id == first) == [("CNCL",)]
    assert transaction_statuses(world, first) == {"W1": "CNCL", "T1": "CNCL", "C1": "CNCL"}
    assert rows(world, txn_leg, "leg_id", where=txn_leg.c.header_id == first) == []
    assert transaction_statuses(world, second) == {"W2": "COMP", "W3": "COMP"}

    rebuild = bill_rebuild_sensor(build_sensor_context(instance=instance, resources={"database": BillingDatabase()}))
    assert [(r.partition_key, r.run_key) for r in rebuild] == [("2026-11-21", "rebuild:2026-11-21:2")]
    follow_up(world, instance)  # the bill rebuild: DoInvoicing of the 21st again
    assert _bills(world) == [("A1", "PENDING", "3.00"), ("A2", "PENDING", "0.50"), ("PARENT1", "PENDING", "0.20")]
    assert {r[0] for r in rows(world, deleted_bill, "status")} == {"REBUILT"}

    done = billing_state(world)
    assert run_feed_job(instance, "cancellation_job", first).success  # twice: nothing left to cancel
    follow_up(world, instance)
    assert billing_state(world) == done


def test_a_cancellation_stopped_between_and_inside_steps_then_rerun_ends_like_a_clean_one(
        world, billing_home, tmp_path, monkeypatch):
    first, _, instance = _two_feeds_billed(world, billing_home, tmp_path / "clean", review_days=5)
    assert run_feed_job(instance, "cancellation_job", first).success
    clean = billing_state(world)

    forget_feeds(world)
    first, _, instance = _two_feeds_billed(world, billing_home, tmp_path / "again", review_days=5)
    job = defs.resolve_job_def("cancellation_job")
    stopped = job.execute_in_process(instance=instance, partition_key=first,
                                     asset_selection=[AssetKey("feed_bills_deleted")])
    assert stopped.success
    with killed_after(monkeypatch, billing.tfm.cancellation, "recompute_aggregated_charges"):  # dies inside C1-TXNCU
        failed = run_feed_job(instance, "cancellation_job", first)
        assert not failed.success and any("killed right after" in f for f in failed.failures)
    assert run_feed_job(instance, "cancellation_job", first).success
    assert billing_state(world) == clean


def test_a_feed_on_a_completed_bill_is_not_cancelled_and_nothing_changes(world, billing_home, tmp_path):
    first, _, _ = _two_feeds_billed(world, billing_home, tmp_path / "drop", review_days=0)
    assert _bills(world) == [("A1", "COMPLETE", "10.40"), ("A2", "COMPLETE", "0.50"),
                             ("PARENT1", "COMPLETE", "0.30")]
    before = billing_state(world)
    refused = CliRunner().invoke(main, ["feed", "cancel", first])
    assert refused.exit_code == 1
    assert f"feed {first} cannot be cancelled: its charges are on invoiced bills" in refused.output
    assert "billing bill cancel" in refused.output
    assert billing_state(world) == before


def test_a_cancellation_request_file_launches_the_job_or_is_quarantined_with_its_reason(world, billing_home,
                                                                                         tmp_path):
    first, second, instance = _two_feeds_billed(world, billing_home, tmp_path / "drop", review_days=5)
    (billing_home.inbox / "bad-feed.cancel.json").write_text(f'{{"header_id": "{first}", "reason": "sent twice"}}')
    (billing_home.inbox / "typo.cancel.json").write_text('{"header_id": "NO-SUCH-FEED"}')
    (billing_home.inbox / "garbled.cancel.json").write_text("{not json")
    context = build_sensor_context(instance=instance, resources={"inbox": FeedInbox(), "database": BillingDatabase()})
    result = cancellation_sensor(context)
    assert [(r.partition_key, r.tags["billing/cancel_reason"]) for r in result.run_requests] == [(first, "sent twice")]
    assert (billing_home.archive / first / "bad-feed.cancel.json").is_file()
    assert "feed NO-SUCH-FEED is unknown" in (billing_home.quarantine / "typo.cancel" / "REASON.txt").read_text()
    assert "not readable JSON" in (billing_home.quarantine / "garbled.cancel" / "REASON.txt").read_text()
    assert list(billing_home.inbox.glob("*.cancel.json")) == []

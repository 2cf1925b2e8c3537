"""Many small feeds: the feed sensor batches the feeds new in a tick into runs over a range of
feed partitions, and each asset of the run does its step for every feed of it. The expected
charges are the hand-computed ones of tests/test_aggregation.py for the same wire rows."""

from decimal import Decimal as D

import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance, DagsterRunStatus, build_sensor_context
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

import sensors.feeds
from billing.db.schema import bill_chg
from billing.feeds.inbox import identify, submit
from definitions import defs
from jobs.launch import run_feed_request
from resources import BillingDatabase, DocumentNotifier, FeedInbox
from sensors.feeds import feed_sensor
from tests.world import BUSINESS_DATE, charge_sums, load_world, rows, statuses, write_feed

FEEDS = {
    "a": ["W1,2026-11-05,A1,WIRE,USD,1234.56,1,"],
    "b": ["W2,2026-11-06,A2,WIRE,USD,100.05,1,"],
    "c": ["W3,2026-11-07,A1,WIRE,USD,0.55,2,", "E1,2026-11-05,NOBODY,WIRE,USD,1.00,1,"],
}


@pytest.fixture
def world(engine, billing_home, tmp_path):
    load_world(engine, tmp_path / "reference")
    return engine


def _drop(billing_home, tmp_path, feeds=FEEDS) -> dict[str, str]:
    """Submit the feeds to the inbox; their header ids by name."""
    ids = {}
    for name, lines in feeds.items():
        control = write_feed(tmp_path / "drop", name, lines)
        ids[name] = identify(submit(control.with_name(f"{name}.csv"), control, billing_home.inbox)).header_id
    return ids


def _tick(instance):
    """One sensor evaluation, its partition requests applied as the daemon would."""
    context = build_sensor_context(instance=instance, resources={
        "inbox": FeedInbox(), "database": BillingDatabase(), "notifier": DocumentNotifier()})
    result = feed_sensor(context)
    for request in getattr(result, "dynamic_partitions_requests", []):
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def _materializations(instance, asset: str, partition: str):
    records = instance.fetch_materializations(AssetRecordsFilter(AssetKey(asset), asset_partitions=[partition]), limit=5)
    return [record.event_log_entry for record in records.records]


def test_feeds_dropped_together_are_aggregated_in_one_run(world, billing_home, tmp_path):
    ids = _drop(billing_home, tmp_path)
    instance = DagsterInstance.ephemeral()
    result = _tick(instance)
    [request] = result.run_requests
    first, last = ids["a"], ids["c"]  # the inbox is read in the order of its control files' names
    assert request.partition_key is None
    assert (request.tags[ASSET_PARTITION_RANGE_START_TAG], request.tags[ASSET_PARTITION_RANGE_END_TAG]) == (first, last)
    assert request.run_key == f"{first}..{last}"

    outcome = run_feed_request(instance, request, BUSINESS_DATE)
    assert outcome.success, outcome.failures
    assert statuses(world, ids["a"]) == {"W1": "COMP"}
    assert statuses(world, ids["b"]) == {"W2": "COMP"}
    assert statuses(world, ids["c"]) == {"W3": "COMP", "E1": "EROR"}  # account NOBODY is unknown
    assert charge_sums(world) == [
        # W1 (feed a) and W3 (feed c) on one open charge: RITA 1234.56 × 0.001 → 1.23, 0.55 × 0.001 → 0.00
        ("A1", "WIRE_FEE", 2, D(3), D("1235.11"), D("1.23")),
        ("A2", "WIRE_FEE", 1, D(1), D("100.05"), D("0.10")),
        # the parent legs of all three feeds: AGTR 3 × 0.10
        ("PARENT1", "WIRE_PARENT", 3, D(4), D("1335.16"), D("0.30")),
    ]

    # One run; every feed partition of every asset materialized by it, with summed metadata.
    [run] = instance.get_runs()
    assert run.status == DagsterRunStatus.SUCCESS
    for header_id in ids.values():
        [event] = _materializations(instance, "billable_charges", header_id)
        assert event.run_id == run.run_id
    [validated] = _materializations(instance, "validated_transactions", ids["c"])
    metadata = validated.asset_materialization.metadata
    assert (metadata["feeds"].value, metadata["moved"].value, metadata["errors"].value) == (3, 4, 1)
    assert ids["c"] in metadata["by_feed"].value

    # The same bytes dropped again are retired, not run again.
    _drop(billing_home, tmp_path)
    assert not getattr(_tick(instance), "run_requests", None)


def test_batches_hold_at_most_feeds_per_run_and_a_batch_in_flight_is_not_asked_again(
        world, billing_home, tmp_path, monkeypatch):
    monkeypatch.setattr(sensors.feeds, "FEEDS_PER_RUN", 2)
    ids = list(_drop(billing_home, tmp_path).values())
    instance = DagsterInstance.ephemeral()
    result = _tick(instance)
    assert [(r.partition_key, r.tags.get(ASSET_PARTITION_RANGE_START_TAG), r.tags.get(ASSET_PARTITION_RANGE_END_TAG))
            for r in result.run_requests] == [(None, ids[0], ids[1]), (ids[2], None, None)]

    # The batch has started but not staged its feeds yet: they are still in the inbox, and
    # known, and must not get runs of their own.
    job = defs.resolve_job_def("aggregation_job")
    instance.create_run_for_job(job, tags=dict(result.run_requests[0].tags), status=DagsterRunStatus.STARTED)
    again = _tick(instance)
    assert [r.partition_key for r in again.run_requests] == [ids[2]]


def test_a_feed_whose_files_vanished_does_not_stop_its_batch(world, billing_home, tmp_path):
    ids = _drop(billing_home, tmp_path, {name: FEEDS[name] for name in ("a", "b")})
    instance = DagsterInstance.ephemeral()
    [request] = _tick(instance).run_requests
    for path in billing_home.inbox.glob("a.*"):
        path.unlink()
    outcome = run_feed_request(instance, request, BUSINESS_DATE)
    assert outcome.success, outcome.failures
    assert statuses(world, ids["b"]) == {"W2": "COMP"}
    assert statuses(world, ids["a"]) == {}
    wires = rows(world, bill_chg, "account_id", "txn_amount", order_by=[bill_chg.c.account_id])
    assert [(a, D(amt)) for a, amt in wires] == [("A2", D("100.05")), ("PARENT1", D("100.05"))]

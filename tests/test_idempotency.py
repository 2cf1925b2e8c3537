"""Re-running a partition changes nothing; a run that died part-way, run again, ends exactly
where a clean run ends. Compared over the full contents of every table."""

import pytest
from dagster import AssetKey, DagsterInstance
from sqlalchemy import DateTime, Engine, select

import billing.tfm.charges
from billing.db.schema import metadata
from billing.feeds.inbox import identify, submit
from billing_assets.aggregation import CONTROL_FILE_TAG
from jobs.launch import run_aggregation
from tests.test_aggregation import ERROR_ROWS, HAPPY_ROWS
from tests.world import BUSINESS_DATE, forget_feeds, load_world, run_feed, write_feed

FIRST_STEPS = ("staged_feed", "validated_header", "validated_transactions", "transaction_legs",
               "transaction_summaries", "priced_summaries")


def snapshot(engine: Engine, stamps: bool = True) -> dict[str, list[tuple]]:
    """Every row of every table; without ``stamps``, but for the times the database stamps
    (when a row changed or was deleted), which a second run at another time cannot repeat."""
    with engine.connect() as conn:
        return {
            table.name: sorted(conn.execute(select(*(c for c in table.c if stamps or not isinstance(c.type, DateTime))
                                                  )).all(), key=repr)
            for table in metadata.sorted_tables
        }


@pytest.fixture
def world(engine, billing_home, tmp_path):
    load_world(engine, tmp_path / "reference")
    return engine


def _drop_both(billing_home, folder):
    return [write_feed(folder, "happy", HAPPY_ROWS), write_feed(folder, "errors", ERROR_ROWS)]


def _rerun_archived(billing_home, instance):
    """Run both feeds again from their archived files, in the order of the clean run (charge
    ids are numbered in processing order)."""
    for name in ("happy", "errors"):
        feed = identify(next(billing_home.archive.glob(f"*/{name}.ctl.json")))
        outcome = run_aggregation(instance, feed, BUSINESS_DATE)
        assert outcome.success, outcome.failures


def test_rerunning_a_partition_leaves_the_database_identical(world, billing_home, tmp_path):
    instance = DagsterInstance.ephemeral()
    for control in _drop_both(billing_home, tmp_path / "drop"):
        run_feed(billing_home, control, instance=instance)
    before = snapshot(world)
    assert len(before["txn_leg"]) > 20 and len(before["bill_chg"]) == 12
    _rerun_archived(billing_home, instance)
    assert snapshot(world) == before


def _job():
    from definitions import defs

    return defs.resolve_job_def("aggregation_job")


def test_a_run_stopped_between_steps_then_rerun_ends_like_a_clean_run(world, billing_home, tmp_path):
    controls = _drop_both(billing_home, tmp_path / "clean")
    for control in controls:
        run_feed(billing_home, control)
    clean = snapshot(world, stamps=False)

    forget_feeds(world)
    instance = DagsterInstance.ephemeral()
    for control in _drop_both(billing_home, tmp_path / "again"):
        feed = identify(submit(control.with_name(control.name.replace(".ctl.json", ".csv")), control,
                               billing_home.inbox))
        instance.add_dynamic_partitions("feeds", [feed.header_id])
        partial = _job().execute_in_process(
            instance=instance, partition_key=feed.header_id, tags={CONTROL_FILE_TAG: str(feed.control.path)},
            run_config={"ops": {"validate_transactions_and_derive_legs": {"config": {"business_date": "2026-11-21"}}}},
            asset_selection=[AssetKey(name) for name in FIRST_STEPS],
        )
        assert partial.success
    _rerun_archived(billing_home, instance)
    assert snapshot(world, stamps=False) == clean


def test_a_run_that_dies_inside_a_step_then_rerun_ends_like_a_clean_run(world, billing_home, tmp_path, monkeypatch):
    for control in _drop_both(billing_home, tmp_path / "clean"):
        run_feed(billing_home, control)
    clean = snapshot(world, stamps=False)

    forget_feeds(world)
    real = billing.tfm.charges._mark_summaries_charged

    def dies_after_writing(conn, header_id):
        real(conn, header_id)
        raise RuntimeError("killed in the middle of C1-TXNSQ")

    monkeypatch.setattr(billing.tfm.charges, "_mark_summaries_charged", dies_after_writing)
    instance = DagsterInstance.ephemeral()
    controls = _drop_both(billing_home, tmp_path / "again")
    for control in controls:
        _, outcome = run_feed(billing_home, control, instance=instance)
        assert not outcome.success
        assert any("killed in the middle of C1-TXNSQ" in f for f in outcome.failures)
    monkeypatch.setattr(billing.tfm.charges, "_mark_summaries_charged", real)
    _rerun_archived(billing_home, instance)
    assert snapshot(world, stamps=False) == clean

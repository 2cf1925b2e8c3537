"""What the run queue holds: sensors do not launch work on what is being worked on."""

from collections.abc import Iterable, Set

from dagster import AssetKey, DagsterInstance, DagsterRun, DagsterRunStatus, RunsFilter
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG, PARTITION_NAME_TAG

from billing_assets.partitions import feeds_partitions

IN_FLIGHT = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
             DagsterRunStatus.STARTED]


def runs_in_flight(instance: DagsterInstance, *job_names: str) -> list:
    """The queued or running runs of these jobs."""
    return [run for run in instance.get_runs(filters=RunsFilter(statuses=IN_FLIGHT)) if run.job_name in job_names]


def partitions_in_flight(instance: DagsterInstance, *job_names: str) -> set[str]:
    """Partition keys of the queued or running runs of these jobs."""
    return {key for run in runs_in_flight(instance, *job_names) for key in run_partitions(instance, run)}


def earlier_runs_on_partitions(instance: DagsterInstance, run_id: str, keys: Iterable[str], job_name: str,
                               assets: Set[AssetKey]) -> list[tuple[str, DagsterRun]]:
    """The queued or running runs created before run ``run_id`` (ties broken by run id) that
    work on any of these partitions with the job — or with any of these assets, as a
    materialization launched from the asset graph does — each with the first such key."""
    own = instance.get_run_record_by_id(run_id)
    if own is None:
        return []
    wanted, found = set(keys), []
    for record in instance.get_run_records(filters=RunsFilter(statuses=IN_FLIGHT)):
        run = record.dagster_run
        if (record.create_timestamp, run.run_id) >= (own.create_timestamp, run_id):
            continue
        if run.job_name != job_name and not (run.asset_selection and run.asset_selection & assets):
            continue
        shared = [key for key in run_partitions(instance, run) if key in wanted]
        if shared:
            found.append((shared[0], run))
    return found


def run_partitions(instance: DagsterInstance, run: DagsterRun) -> list[str]:
    """The run's partition keys: its one partition, or the range of feeds the feed sensor
    batched into it (the only ranges launched here)."""
    single = run.tags.get(PARTITION_NAME_TAG)
    if single is not None:
        return [single]
    start, end = run.tags.get(ASSET_PARTITION_RANGE_START_TAG), run.tags.get(ASSET_PARTITION_RANGE_END_TAG)
    if start is None or end is None:
        return []
    feeds = instance.get_dynamic_partitions(feeds_partitions.name)
    if start not in feeds or end not in feeds:
        return [start, end]
    return feeds[feeds.index(start):feeds.index(end) + 1]


def partitions_label(keys: list[str]) -> str | None:
    """One partition's key, or ``first..last (N)`` for a batched run."""
    if not keys:
        return None
    return keys[0] if len(keys) == 1 else f"{keys[0]}..{keys[-1]} ({len(keys)})"

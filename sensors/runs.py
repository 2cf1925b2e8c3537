"""What the run queue holds: sensors do not launch work on what is being worked on."""

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

IN_FLIGHT = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
             DagsterRunStatus.STARTED]


def runs_in_flight(instance: DagsterInstance, *job_names: str) -> list:
    """The queued or running runs of these jobs."""
    return [run for run in instance.get_runs(filters=RunsFilter(statuses=IN_FLIGHT)) if run.job_name in job_names]


def partitions_in_flight(instance: DagsterInstance, *job_names: str) -> set[str]:
    """Partition keys of the queued or running runs of these jobs."""
    return {run.tags.get("dagster/partition") for run in runs_in_flight(instance, *job_names)}

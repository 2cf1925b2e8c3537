"""A feed is aggregated or cancelled, never both at once.

A cancellation that took the feed's legs off their charges while its aggregation was between
two steps would leave that aggregation to write charges and statuses for a cancelled feed; an
aggregation started while the feed is being cancelled would do the same. So each step of
either job first looks at the run queue: when a queued or running run of the other kind that
was created before its own works on one of its feeds, the step fails — nothing changed, no
retry — saying which run holds the feed. A run is in the run storage before its first step
starts, so of two such runs the later one always sees the earlier and yields, and the
earlier never yields to the later. The operator launches the refused one again once the
other has ended (the cancellation sensor does not even launch a request while its feed is
aggregating: it waits). A run killed without ending stays ``STARTED`` and keeps its feeds
until it is marked failed (the run monitor, or "Terminate" in the UI).
"""

from functools import cache
from types import ModuleType

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, Failure

from sensors.runs import earlier_runs_on_partitions

AGGREGATION_JOB = "aggregation_job"
CANCELLATION_JOB = "cancellation_job"


def refuse_while_cancelling(context: AssetExecutionContext, keys: list[str]) -> None:
    """An aggregation step: fail when one of its feeds is being cancelled by an earlier run."""
    from billing_assets import cancellation

    _refuse(context, keys, CANCELLATION_JOB, _group_assets(cancellation), "cancelled",
            "launch the aggregation again once that run has ended, if the feed is still to be aggregated")


def refuse_while_aggregating(context: AssetExecutionContext, keys: list[str]) -> None:
    """A cancellation step: fail when its feed is being aggregated by an earlier run."""
    from billing_assets import aggregation

    _refuse(context, keys, AGGREGATION_JOB, _group_assets(aggregation), "aggregated",
            "cancel it again once that run has ended")


def _refuse(context: AssetExecutionContext, keys: list[str], job_name: str, assets: frozenset[AssetKey],
            busy_with: str, advice: str) -> None:
    for header_id, run in earlier_runs_on_partitions(context.instance, context.run_id, keys, job_name, assets):
        raise Failure(description=f"feed {header_id} is being {busy_with} by run {run.run_id} "
                      f"({run.status.value}, launched before this one): nothing was changed; {advice} (a run "
                      "whose process was killed stays STARTED until it is terminated from its page in the UI)",
                      allow_retries=False)


@cache
def _group_assets(module: ModuleType) -> frozenset[AssetKey]:
    """The keys of the assets of the module's group (``module.GROUP``)."""
    return frozenset(key for value in vars(module).values() if isinstance(value, AssetsDefinition)
                     for key, group in value.group_names_by_key.items() if group == module.GROUP)

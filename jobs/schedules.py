"""The batch schedules of batch_processing.yaml (``batch_schedules``), each at its time in its
own time zone, each requesting the partition its batch is about (run key = partition key, so
a tick evaluated twice launches one run):

- ``close_of_day`` (nightly 00:30): the close of the business day that has just ended;
- ``invoice_generation`` (monthly, day 1 at 01:00): the bills of the cycle closing that day,
  which cover the month up to the day before (closed half an hour earlier);
- ``account_validation`` (daily 02:00): the reference data as it stands for the day starting;
- ``data_synchronization`` (hourly at :15): the warehouse export of the hour that has ended,
  and again that of the hour that ended SETTLE earlier (below).

Like every Dagster schedule they are off until an operator turns them on.
"""

import math
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from dagster import (
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    partition_loading_context,
    schedule,
)

from billing.operations.config import BatchSchedule
from billing_assets.partitions import hours_partitions
from jobs import CONFIG, account_validation_job, closeofday_job, invoice_generation_job, warehouse_job


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


def _day_ended(moment: datetime) -> str:
    return (moment.date() - timedelta(days=1)).isoformat()


def _hour_ended(moment: datetime) -> str:
    """The last hourly partition that has ended at ``moment`` (Dagster's own key: the hour
    repeated when daylight saving ends is ``…-01:00-0600``, so it is not skipped)."""
    with partition_loading_context(effective_dt=moment):
        return hours_partitions.get_last_partition_key()


# A row is stamped when its transaction starts and seen when it commits, so an hour exported at
# :15 can still receive rows from a step that was running across the hour. No batch runs
# longer than its max_duration (run monitoring stops it), so an hour is complete once the
# longest of them has passed: each tick exports again the hour that ended that long before.
_SCHEDULES = CONFIG.batch_schedules
_LONGEST = max(getattr(_SCHEDULES, name).max_runtime for name in type(_SCHEDULES).model_fields)
SETTLE = timedelta(hours=math.ceil(_LONGEST / timedelta(hours=1)))


def _hour_ended_and_settled(moment: datetime) -> dict[str, str]:
    latest, settled = _hour_ended(moment), _hour_ended(moment - SETTLE)
    return {latest: latest, f"{settled}:settled": settled}


def _one(partition_of: Callable[[datetime], str]) -> Callable[[datetime], dict[str, str]]:
    def requests(moment: datetime) -> dict[str, str]:
        key = partition_of(moment)
        return {key: key}

    return requests


def batch_schedule(name: str, job, batch: BatchSchedule,
                   requests_of: Callable[[datetime], dict[str, str]], what: str) -> ScheduleDefinition:
    """A schedule at ``batch``'s time and zone requesting, for each run key → partition key of
    ``requests_of(its local time)``, a run of that partition."""

    @schedule(name=name, job=job, cron_schedule=batch.cron, execution_timezone=batch.timezone,
              description=f"{batch.frequency.capitalize()} at {batch.start_time} {batch.timezone}: {what}. Stopped by "
              f"run monitoring after {batch.max_duration}.")
    def _schedule(context: ScheduleEvaluationContext) -> list[RunRequest]:
        requests = requests_of(context.scheduled_execution_time.astimezone(ZoneInfo(batch.timezone)))
        return [RunRequest(run_key=run_key, partition_key=key) for run_key, key in requests.items()]

    return _schedule


closeofday_schedule = batch_schedule(
    "closeofday_schedule", closeofday_job, _SCHEDULES.close_of_day, _one(_day_ended),
    "closes the business day that has just ended")
invoice_generation_schedule = batch_schedule(
    "invoice_generation_schedule", invoice_generation_job, _SCHEDULES.invoice_generation, _one(_day),
    "bills the cycle closing that day (its bills cover the month up to the day before)")
account_validation_schedule = batch_schedule(
    "account_validation_schedule", account_validation_job, _SCHEDULES.account_validation, _one(_day),
    "validates the reference data as it stands for the day starting")
data_synchronization_schedule = batch_schedule(
    "data_synchronization_schedule", warehouse_job, _SCHEDULES.data_synchronization,
    _hour_ended_and_settled, "exports to the warehouse what changed in the hour that has ended, and again the hour "
    "that ended as long ago as the longest batch may run (rows committed late)")

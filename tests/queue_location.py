"""A small code location for tests/test_deploy_instance.py: runs whose only work is to take
time, so that what the production instance does with them — queue limits, one run per
partition, the charges pool, run monitoring — can be seen in their start and end times.

Its sensor (on by default) asks for five runs of ``batch_job`` at once, two of them for
partition f1, then one run of ``endless_job`` that outlives its ``dagster/max_runtime``.
"""

import time

from dagster import (
    DefaultSensorStatus,
    Definitions,
    RunRequest,
    SkipReason,
    StaticPartitionsDefinition,
    asset,
    define_asset_job,
    in_process_executor,
    sensor,
)

from billing_assets.pools import CHARGES_POOL

BUSY_S = 3
CHARGES_S = 2
REQUESTS = [("f1", "first"), ("f2", "first"), ("f3", "first"), ("f4", "first"), ("f1", "second")]
MAX_RUNTIME_S = 3

feeds = StaticPartitionsDefinition(["f1", "f2", "f3", "f4"])


@asset(partitions_def=feeds)
def busy() -> None:
    time.sleep(BUSY_S)


@asset(partitions_def=feeds, deps=[busy], pool=CHARGES_POOL)
def charges() -> None:
    time.sleep(CHARGES_S)


@asset
def endless() -> None:
    time.sleep(600)


batch_job = define_asset_job("batch_job", selection=[busy, charges], executor_def=in_process_executor)
endless_job = define_asset_job("endless_job", selection=[endless], executor_def=in_process_executor,
                               tags={"dagster/max_runtime": str(MAX_RUNTIME_S)})


@sensor(jobs=[batch_job, endless_job], default_status=DefaultSensorStatus.RUNNING)
def burst(context):
    if context.cursor:
        return SkipReason("already asked")
    context.update_cursor("asked")
    return [RunRequest(run_key=f"{partition}-{which}", partition_key=partition, job_name="batch_job")
            for partition, which in REQUESTS] + [RunRequest(run_key="endless", job_name="endless_job")]


defs = Definitions(assets=[busy, charges, endless], jobs=[batch_job, endless_job], sensors=[burst])

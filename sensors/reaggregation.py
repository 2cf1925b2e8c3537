"""The re-aggregation sensor: a processed feed with transactions back in staging — rolled
back, disaggregated, or dated after its first run's business date and due now — gets an
aggregation run. Once per feed, reprocessing generation and business day (the run key), and
never while a run of that feed is queued or going."""

from dagster import RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from billing.settings import business_today
from billing.tfm.rollback import feeds_to_reaggregate
from billing_assets.partitions import feeds_partitions
from jobs import aggregation_job
from resources import BillingDatabase
from sensors.runs import partitions_in_flight

FEED_JOBS = ("aggregation_job", "cancellation_job")


@sensor(job=aggregation_job, minimum_interval_seconds=30, description="Re-runs the aggregation job of each processed "
        "feed that has transactions back in staging (after a rollback or a disaggregation), at today's prices.")
def reaggregation_sensor(context: SensorEvaluationContext, database: BillingDatabase):
    today = business_today()
    with database.engine().connect() as conn:
        waiting = feeds_to_reaggregate(conn, today)
    busy = partitions_in_flight(context.instance, *FEED_JOBS)
    ready = [(header_id, generation) for header_id, generation in waiting if header_id not in busy]
    if not ready:
        return SkipReason("no processed feed has transactions waiting in staging" if not waiting
                          else f"{len(waiting)} feeds wait for their running aggregation or cancellation to end")
    known = set(context.instance.get_dynamic_partitions(feeds_partitions.name))
    unknown = [header_id for header_id, _ in ready if header_id not in known]
    return SensorResult(
        run_requests=[RunRequest(run_key=f"reaggregate:{header_id}:{generation}:{today}", partition_key=header_id)
                      for header_id, generation in ready],
        dynamic_partitions_requests=[feeds_partitions.build_add_request(unknown)] if unknown else [],
    )

"""The bill rebuild sensor: a day whose pending bills a cancellation or a disaggregation
deleted gets its DoInvoicing run again — once nothing is left to re-aggregate and no
aggregation, cancellation or disaggregation is running — so the accounts are billed afresh
from their charges as they now are."""

from dagster import RunRequest, SensorEvaluationContext, SkipReason, sensor

from billing.invoicing.deleted_bills import days_to_rebuild
from billing.settings import business_today
from billing.tfm.rollback import feeds_to_reaggregate
from jobs import rebuild_bills_job
from resources import BillingDatabase
from sensors.runs import runs_in_flight

CHARGE_WRITERS = ("aggregation_job", "cancellation_job", "disaggregation_job", "rollback_job")


@sensor(job=rebuild_bills_job, minimum_interval_seconds=60, description="Runs DoInvoicing again for each day whose "
        "pending bills were deleted by a cancellation or a disaggregation, after re-aggregation has finished.")
def bill_rebuild_sensor(context: SensorEvaluationContext, database: BillingDatabase):
    with database.engine().connect() as conn:
        days = days_to_rebuild(conn)
        waiting = feeds_to_reaggregate(conn, business_today()) if days else []
    if not days:
        return SkipReason("no deleted pending bill waits to be rebuilt")
    if waiting or runs_in_flight(context.instance, *CHARGE_WRITERS):
        return SkipReason("charges are still being re-aggregated: the bills are rebuilt once that is done")
    return [RunRequest(run_key=f"rebuild:{day}:{generation}", partition_key=day.isoformat())
            for day, generation in days]

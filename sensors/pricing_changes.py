"""The pricing-change sensor: a reference load that added or changed pricing effective on or
before transactions already processed gets its disaggregation requests (C1-DISTG), and the
disaggregation job is then launched or offered, as ``BILLING_REPRICING`` says:

* ``offer`` (default): the tick says which accounts wait and how to launch the job — from
  the launchpad (no config needed: the run processes the pending requests) or with
  ``billing disaggregate`` — so an operator chooses when invoices may be re-rated;
* ``launch``: the job is launched at once (once per set of requests: the run key).
"""

import os

from dagster import RunRequest, SensorEvaluationContext, SkipReason, sensor
from sqlalchemy import func, select

from billing.db.schema import disagg_req
from billing.errors import BillingError
from billing.reference.pricing_changes import request_repricing
from jobs import disaggregation_job
from resources import BillingDatabase
from sensors.runs import runs_in_flight

MODES = ("offer", "launch")


def repricing_mode() -> str:
    mode = os.environ.get("BILLING_REPRICING", "offer").strip().lower()
    if mode not in MODES:
        raise BillingError(f"BILLING_REPRICING={mode!r}: use one of {', '.join(MODES)}")
    return mode


@sensor(job=disaggregation_job, minimum_interval_seconds=60, description="Turns pricing changes that reach already "
        "processed transactions into disaggregation requests, then launches or offers the disaggregation job "
        "(BILLING_REPRICING=offer|launch).")
def pricing_change_sensor(context: SensorEvaluationContext, database: BillingDatabase):
    mode = repricing_mode()
    with database.engine().begin() as conn:
        made = request_repricing(conn)
        r = disagg_req
        pending, first_from, last_req = conn.execute(
            select(func.count(), func.min(r.c.from_dt), func.max(r.c.req_id)).where(r.c.status == "PENDING")).one()
    if made["requests_created"]:
        context.log.info(f"pricing changes reach processed transactions: {made['requests_created']} disaggregation "
                         "requests created")
    if not pending:
        return SkipReason("no pricing change waits to be re-rated")
    if runs_in_flight(context.instance, "disaggregation_job"):
        return SkipReason(f"{pending} disaggregation requests: a disaggregation run is going")
    if mode == "offer":
        return SkipReason(f"{pending} accounts wait to be re-rated from {first_from}: launch disaggregation_job "
                          f"(no config needed) or run `billing disaggregate --from-date {first_from}`")
    return RunRequest(run_key=f"repricing:{last_req}")

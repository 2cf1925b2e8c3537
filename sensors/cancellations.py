"""The cancellation sensor: each ``*.cancel.json`` request in the inbox (see
``billing.feeds.cancel_requests``) launches the cancellation job for its feed's partition,
and is filed in the feed's archive folder. A request that cannot be read, names an unknown
feed or one whose charges are invoiced goes to quarantine with the reason, and launches
nothing. A request for a feed whose aggregation run is queued or running waits in the inbox
until that run ends."""

import hashlib

from dagster import RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from billing.errors import BillingError
from billing.feeds.cancel_requests import CANCEL_SUFFIX, scan_cancel_requests
from billing.feeds.inbox import move_files, quarantine_files
from billing.tfm.cancellation import refusal
from billing_assets.partitions import feeds_partitions
from jobs import aggregation_job, cancellation_job
from resources import BillingDatabase, FeedInbox
from sensors.runs import partitions_in_flight

REASON_TAG = "billing/cancel_reason"


def _refused(database: BillingDatabase, header_id: str) -> str | None:
    with database.engine().connect() as conn:
        try:
            return refusal(conn, header_id)
        except BillingError as unknown:
            return str(unknown)


@sensor(job=cancellation_job, minimum_interval_seconds=15, description="Launches the cancellation job for each "
        "cancellation request (NAME.cancel.json naming a header_id) dropped in $BILLING_HOME/inbox.")
def cancellation_sensor(context: SensorEvaluationContext, inbox: FeedInbox, database: BillingDatabase):
    paths = inbox.paths()
    requests, new_keys = [], []
    known = set(context.instance.get_dynamic_partitions(feeds_partitions.name))
    aggregating = partitions_in_flight(context.instance, aggregation_job.name)
    for path, found in scan_cancel_requests(paths.inbox):
        name = path.name[: -len(CANCEL_SUFFIX)]
        if not isinstance(found, BillingError) and found.header_id in aggregating:
            context.log.info(f"cancellation request {path.name} waits: feed {found.header_id} is being aggregated")
            continue
        reason = str(found) if isinstance(found, BillingError) else _refused(database, found.header_id)
        if reason:
            folder = quarantine_files([path], reason, paths.quarantine, f"{name}.cancel")
            context.log.warning(f"cancellation request {path.name} refused: {reason} (see {folder})")
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        if found.header_id not in known:
            new_keys.append(found.header_id)
            known.add(found.header_id)
        requests.append(RunRequest(run_key=f"cancel:{found.header_id}:{digest}", partition_key=found.header_id,
                                   tags={REASON_TAG: found.reason[:200]}))
        move_files([path], paths.archive / found.header_id)
    if not requests:
        return SkipReason(f"no cancellation request to launch in {paths.inbox}")
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[feeds_partitions.build_add_request(new_keys)] if new_keys else [],
    )

"""The feed sensor: every complete feed in the inbox becomes a partition and a run.

A feed is complete when its control file is there. The run key is the feed's
``header_id``, which carries a hash of both files: re-dropping the same bytes is no new run
(the copy is filed beside the archived original), different bytes are a new feed. A control
file that cannot be read goes to quarantine with its reason at once.

When its runs keep failing, its circuit breaker opens and it launches nothing more until an
operator resets it (sensors/breaker.py).
"""

from dagster import RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor

from billing.errors import FeedRejected
from billing.feeds.inbox import quarantine, scan
from billing.feeds.intake import retire_duplicate
from billing.tfm.upload import existing_upload
from billing_assets.aggregation import CONTROL_FILE_TAG
from billing_assets.partitions import feeds_partitions
from jobs import aggregation_job
from resources import BillingDatabase, DocumentNotifier, FeedInbox
from sensors.breaker import feed_breaker_refusal


@sensor(job=aggregation_job, minimum_interval_seconds=15, description="Registers each complete feed in "
        "$BILLING_HOME/inbox as a `feeds` partition and launches the aggregation job for it.")
def feed_sensor(context: SensorEvaluationContext, inbox: FeedInbox, database: BillingDatabase,
                notifier: DocumentNotifier):
    refusal = feed_breaker_refusal(context, database, notifier, inbox, aggregation_job.name)
    if refusal:
        return SkipReason(refusal)
    paths = inbox.paths()
    known = set(context.instance.get_dynamic_partitions(feeds_partitions.name))
    requests, new_keys = [], []
    for control_path, found in scan(paths.inbox):
        if isinstance(found, FeedRejected):
            folder = quarantine(control_path, str(found), paths.quarantine)
            context.log.warning(f"quarantined {control_path.name}: {found} (see {folder})")
            continue
        header_id = found.header_id
        if existing_upload(database.engine(), header_id) is not None:
            folder = retire_duplicate(paths, found)
            if folder:
                context.log.info(f"{control_path.name} re-drops feed {header_id}, already processed: filed in {folder}")
            continue
        if header_id not in known:
            new_keys.append(header_id)
            known.add(header_id)
        requests.append(RunRequest(run_key=header_id, partition_key=header_id,
                                   tags={CONTROL_FILE_TAG: str(control_path)}))
    if not requests and not new_keys:
        return SkipReason(f"no new complete feed in {paths.inbox}")
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[feeds_partitions.build_add_request(new_keys)] if new_keys else [],
    )

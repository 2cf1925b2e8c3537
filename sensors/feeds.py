"""The feed sensor: every complete feed in the inbox becomes a partition and is processed.

A feed is complete when its control file is there. The feeds new in one tick go in runs of
up to FEEDS_PER_RUN feeds — a range of the partitions added together — so that a thousand
small feeds do not pay a run's start-up each (billing_assets/feed_batches.py); a feed alone,
or one seen before whose run has not taken it yet, gets a run of its own. A run's key is the feed's
``header_id`` (for a batch, its first and last), which carries a hash of both files: re-dropping the same bytes is no new run
(the copy is filed beside the archived original), different bytes are a new feed. A control
file that cannot be read goes to quarantine with its reason at once.

When its runs keep failing, its circuit breaker opens and it launches nothing more until an
operator resets it (sensors/breaker.py).
"""

from dagster import RunRequest, SensorEvaluationContext, SensorResult, SkipReason, sensor
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from billing.errors import FeedRejected
from billing.feeds.inbox import quarantine, scan
from billing.feeds.intake import retire_duplicate
from billing.tfm.upload import existing_upload
from billing_assets.aggregation import CONTROL_FILE_TAG
from billing_assets.partitions import feeds_partitions
from jobs import aggregation_job
from resources import BillingDatabase, DocumentNotifier, FeedInbox
from sensors.breaker import feed_breaker_refusal
from sensors.runs import partitions_in_flight

# Feeds per batched run: enough that start-up is a small share of a run of small feeds, few
# enough that a run's metadata table by feed stays readable and a failed run is quick to redo.
FEEDS_PER_RUN = 100


@sensor(job=aggregation_job, minimum_interval_seconds=15, description="Registers each complete feed in "
        "$BILLING_HOME/inbox as a `feeds` partition and launches the aggregation job for it.")
def feed_sensor(context: SensorEvaluationContext, inbox: FeedInbox, database: BillingDatabase,
                notifier: DocumentNotifier):
    refusal = feed_breaker_refusal(context, database, notifier, inbox, aggregation_job.name)
    if refusal:
        return SkipReason(refusal)
    paths = inbox.paths()
    known = set(context.instance.get_dynamic_partitions(feeds_partitions.name))
    taken = partitions_in_flight(context.instance, aggregation_job.name)
    requests, new_feeds = [], {}
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
        if header_id in taken:
            continue  # a queued or running batch will stage it
        if header_id in known:
            requests.append(_one_feed(header_id, control_path))
        elif header_id not in new_feeds:
            new_feeds[header_id] = control_path
    new_keys = list(new_feeds)
    for start in range(0, len(new_keys), FEEDS_PER_RUN):
        batch = new_keys[start:start + FEEDS_PER_RUN]
        requests.append(_one_feed(batch[0], new_feeds[batch[0]]) if len(batch) == 1 else _batch(batch))
    if not requests:
        return SkipReason(f"no new complete feed in {paths.inbox}")
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[feeds_partitions.build_add_request(new_keys)] if new_keys else [],
    )


def _one_feed(header_id: str, control_path) -> RunRequest:
    return RunRequest(run_key=header_id, partition_key=header_id, tags={CONTROL_FILE_TAG: str(control_path)})


def _batch(header_ids: list[str]) -> RunRequest:
    """One run over feeds added together, hence a contiguous range of the feed partitions."""
    first, last = header_ids[0], header_ids[-1]
    return RunRequest(run_key=f"{first}..{last}",
                      tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last})

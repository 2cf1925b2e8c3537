"""Payment files: each a partition of ``payments``, loaded by the run the payment sensor
launches. The close of day's UpdateStaticBalances then settles bills with them."""

from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, asset

from billing.payments.intake import find_file, is_loaded, load_payment_file
from billing.tfm.report import markdown_table
from billing_assets.failures import refused_as_failure
from billing_assets.partitions import payment_files_partitions
from resources import BillingDatabase, FeedInbox

GROUP = "payments"
PREVIEW_ROWS = 10


@asset(
    partitions_def=payment_files_partitions,
    group_name=GROUP,
    description="The payments of one payment file (inbox/payments/NAME.csv): good rows recorded once, bad rows in "
    "quarantine/payments/NAME.rejected.csv with their reason, the file archived.",
)
def payments(context: AssetExecutionContext, database: BillingDatabase, inbox: FeedInbox) -> MaterializeResult:
    paths = inbox.paths()
    path = find_file(paths, context.partition_key)
    if path is None and is_loaded(database.engine(), context.partition_key):
        return MaterializeResult(metadata={"already_loaded": True})  # another run took it meanwhile
    if path is None:
        raise Failure(description=f"payment file {context.partition_key} is no longer in {paths.inbox / 'payments'}: "
                      f"drop the file again.",
                      allow_retries=False)
    outcome = refused_as_failure(lambda: load_payment_file(database.engine(), paths, path))
    if outcome.message:
        raise Failure(description=outcome.message, allow_retries=False)
    rejected = [{"line": r["line"], "account_id": r["account_id"], "reason": r["reason"]}
                for r in outcome.rejected_rows[:PREVIEW_ROWS]]
    return MaterializeResult(metadata={
        "accepted": outcome.accepted, "rejected": outcome.rejected, "amount": str(outcome.amount),
        "already_loaded": outcome.already_loaded,
        "rejected_preview": MetadataValue.md(markdown_table(rejected) if rejected else "none"),
    })

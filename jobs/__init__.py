"""Asset jobs. They run on the in-process executor: a step per process costs ~1.5 s each
on these machines (DAGSTER_NOTES), more than most of our steps take."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from billing_assets.aggregation import GROUP as AGGREGATION_GROUP

aggregation_job = define_asset_job(
    "aggregation_job",
    selection=AssetSelection.groups(AGGREGATION_GROUP),
    executor_def=in_process_executor,
    description="Transaction aggregation of one feed partition: upload → C1-TXNHV → C1-TXNIP → C1-TXNPS → "
    "C1-TXNVP → C1-TXNEX → C1-TXNSQ → C1-TXNCM → C1-TXNCU, with the invariant checks.",
)

refresh_pricing_job = define_asset_job(
    "refresh_pricing_job",
    selection=AssetSelection.assets("effective_pricing"),
    executor_def=in_process_executor,
    description="Refresh pricing (C1-TXNRP) after a reference data load.",
)

"""Asset jobs. They run on the in-process executor: a step per process costs ~1.5 s each
on these machines (DAGSTER_NOTES), more than most of our steps take — unless
``BILLING_EXECUTOR=celery`` sends their steps to Celery workers on other machines
(jobs/executors.py). Every job retries its transient failures as batch_processing.yaml says;
the scheduled batches carry their maximum run time (jobs/policies.py)."""

from dagster import AssetSelection, define_asset_job

from billing.operations.config import load_config
from billing.settings import billing_home
from billing_assets.account_validation import GROUP as ACCOUNT_VALIDATION_GROUP
from billing_assets.aggregation import GROUP as AGGREGATION_GROUP
from billing_assets.cancellation import GROUP as CANCELLATION_GROUP
from billing_assets.closeofday import GROUP as CLOSEOFDAY_GROUP
from billing_assets.disaggregation import GROUP as DISAGGREGATION_GROUP
from billing_assets.payments import GROUP as PAYMENTS_GROUP
from billing_assets.rollback import GROUP as ROLLBACK_GROUP
from billing_assets.warehouse import GROUP as WAREHOUSE_GROUP
from jobs.executors import job_executor
from jobs.policies import max_runtime_tags, retry_policy

CONFIG = load_config(billing_home())
RETRIES = retry_policy(CONFIG)
EXECUTOR = job_executor()
# The close of day, the invoice generation and bill rebuilds change the same days' balances
# and bills: the production run queue runs one of them at a time, in the order they were
# queued (deploy/dagster.yaml limits this tag), so the invoice generation of the 1st waits for
# the night's close of the day before.
BUSINESS_DAYS = {"billing/serial": "business-days"}

aggregation_job = define_asset_job(
    "aggregation_job",
    selection=AssetSelection.groups(AGGREGATION_GROUP),
    executor_def=EXECUTOR,
    op_retry_policy=RETRIES,
    description="Transaction aggregation of one feed partition: upload → C1-TXNHV → C1-TXNIP → C1-TXNPS → "
    "C1-TXNVP → C1-TXNEX → C1-TXNSQ → C1-TXNCM → C1-TXNCU, with the invariant checks.",
)

refresh_pricing_job = define_asset_job(
    "refresh_pricing_job",
    selection=AssetSelection.assets("effective_pricing"),
    executor_def=EXECUTOR,
    op_retry_policy=RETRIES,
    description="Refresh pricing (C1-TXNRP) after a reference data load.",
)

closeofday_job = define_asset_job(
    "closeofday_job",
    selection=AssetSelection.groups(CLOSEOFDAY_GROUP),
    executor_def=EXECUTOR,
    op_retry_policy=RETRIES,
    tags={**max_runtime_tags(CONFIG.batch_schedules.close_of_day), **BUSINESS_DAYS},
    description="Close of one business day, in date order and the seed's order: dbck → managefiles → "
    "UpdateTaxRates → statuses by their dates → BillServices → balances → late fees → overdue → SetFinactivity → "
    "DoInvoicing → OpenWaitForPaymentServices → notices → CollectStats → RemovePaymentInfo → finalize_billing → "
    "documents → the day logged closed, with dbck and the bill checks.",
)

payments_job = define_asset_job(
    "payments_job",
    selection=AssetSelection.groups(PAYMENTS_GROUP),
    executor_def=EXECUTOR,
    op_retry_policy=RETRIES,
    description="Load one payment file of inbox/payments (launched by the payment sensor).",
)

rebuild_bills_job = define_asset_job(
    "rebuild_bills_job",
    selection=AssetSelection.assets("pending_bills"),
    executor_def=EXECUTOR,
    op_retry_policy=RETRIES,
    tags=BUSINESS_DAYS,
    description="DoInvoicing run again for one day whose pending bills a cancellation or a disaggregation "
    "deleted: their accounts billed afresh from the charges as they are now, with the bill checks.",
)

rollback_job = define_asset_job(
    "rollback_job",
    selection=AssetSelection.groups(ROLLBACK_GROUP),
    executor_def=EXECUTOR,
    op_retry_policy=RETRIES,
    description="Rollback (C1-TXNRB) of EROR or IGNR transactions, with the invariant checks; the re-aggregation "
    "sensor then re-runs the aggregation job of each affected feed.",
)

cancellation_job = define_asset_job(
    "cancellation_job",
    selection=AssetSelection.groups(CANCELLATION_GROUP),
    executor_def=EXECUTOR,
    op_retry_policy=RETRIES,
    description="Cancellation of one feed partition: C1-DELBL → C1-TXNCU (CNCL) → C1-TXCNC, with the invariant "
    "checks. Refused while the feed's charges are invoiced.",
)

disaggregation_job = define_asset_job(
    "disaggregation_job",
    selection=AssetSelection.groups(DISAGGREGATION_GROUP),
    executor_def=EXECUTOR,
    op_retry_policy=RETRIES,
    description="Disaggregation (re-rating): C1-DISTG → C1-BSEGD → C1-PNBD → C1-IDENT → C1-PDTXN → C1-TXNCU "
    "(DISAGG) → C1-DARSU, with the invariant checks; re-aggregation and bill rebuilds follow.",
)

invoice_generation_job = define_asset_job(
    "invoice_generation_job",
    selection=AssetSelection.assets("pending_bills", "completed_bills", "invoice_documents"),
    executor_def=EXECUTOR,
    op_retry_policy=RETRIES,
    tags={**max_runtime_tags(CONFIG.batch_schedules.invoice_generation), **BUSINESS_DAYS},
    description="Invoice generation of one day without the rest of its close: DoInvoicing → finalize_billing → "
    "documents, with the bill checks. Scheduled on the 1st for the cycle closing that day: its bills cover the "
    "month up to the day before, which the nightly close of day has closed. The day's own close bills nobody twice.",
)

account_validation_job = define_asset_job(
    "account_validation_job",
    selection=AssetSelection.groups(ACCOUNT_VALIDATION_GROUP),
    executor_def=EXECUTOR,
    op_retry_policy=RETRIES,
    tags=max_runtime_tags(CONFIG.batch_schedules.account_validation),
    description="Daily Account Validation: completeness, contract validity, rate consistency and service "
    "configuration of the reference data as of the day, in validation_result and validation_error, one asset check "
    "per rule family (the run monitor alerts on a failed one).",
)

warehouse_job = define_asset_job(
    "warehouse_job",
    selection=AssetSelection.groups(WAREHOUSE_GROUP),
    executor_def=EXECUTOR,
    op_retry_policy=RETRIES,
    tags=max_runtime_tags(CONFIG.batch_schedules.data_synchronization),
    description="EDW synchronization of one hour: customers, contracts, charges and bills, payments changed in it "
    "— Parquet under $BILLING_HOME/warehouse and, with BILLING_WAREHOUSE_URL, the warehouse database; re-running "
    "an hour changes nothing, the source wins.",
)

"""The one Definitions object that `dagster dev`, the webserver and the CLI load."""

from dagster import Definitions, load_asset_checks_from_modules, load_assets_from_modules

import billing_assets.account_validation
import billing_assets.aggregation
import billing_assets.cancellation
import billing_assets.checks
import billing_assets.closeofday
import billing_assets.disaggregation
import billing_assets.payments
import billing_assets.pricing
import billing_assets.rollback
import billing_assets.warehouse
from billing.notify import SMTP_PASSWORD_ENV
from billing.settings import DATABASE_URL_ENV
from billing.warehouse.target import WAREHOUSE_URL_ENV
from jobs import (
    EXECUTOR,
    account_validation_job,
    aggregation_job,
    cancellation_job,
    closeofday_job,
    disaggregation_job,
    invoice_generation_job,
    payments_job,
    rebuild_bills_job,
    refresh_pricing_job,
    rollback_job,
    warehouse_job,
)
from jobs.schedules import (
    account_validation_schedule,
    closeofday_schedule,
    data_synchronization_schedule,
    invoice_generation_schedule,
)
from resources import BillingDatabase, DocumentNotifier, FeedInbox, Warehouse, secret_from_environment
from sensors.bill_rebuilds import bill_rebuild_sensor
from sensors.cancellations import cancellation_sensor
from sensors.feeds import feed_sensor
from sensors.payments import payment_sensor
from sensors.pricing_changes import pricing_change_sensor
from sensors.reaggregation import reaggregation_sensor
from sensors.run_monitor import run_monitor_sensor

defs = Definitions(
    # Materializations launched from the asset graph (__ASSET_JOB) run like the jobs: in process
    # (a process per step costs ~1.5 s each), or on the Celery workers.
    executor=EXECUTOR,
    assets=load_assets_from_modules([billing_assets.aggregation, billing_assets.pricing, billing_assets.closeofday,
                                     billing_assets.rollback, billing_assets.cancellation,
                                     billing_assets.disaggregation, billing_assets.payments,
                                     billing_assets.account_validation, billing_assets.warehouse]),
    asset_checks=load_asset_checks_from_modules([billing_assets.checks, billing_assets.account_validation]),
    jobs=[aggregation_job, refresh_pricing_job, closeofday_job, rebuild_bills_job, rollback_job, cancellation_job,
          disaggregation_job, payments_job, invoice_generation_job,
          account_validation_job, warehouse_job],
    schedules=[closeofday_schedule, invoice_generation_schedule, account_validation_schedule,
               data_synchronization_schedule],
    sensors=[feed_sensor, reaggregation_sensor, cancellation_sensor, bill_rebuild_sensor, pricing_change_sensor,
             payment_sensor, run_monitor_sensor],
    # Secrets as EnvVars: the UI and the runs' records show the variables' names, never their values.
    resources={"database": BillingDatabase(url=secret_from_environment(DATABASE_URL_ENV)), "inbox": FeedInbox(),
               "notifier": DocumentNotifier(smtp_password=secret_from_environment(SMTP_PASSWORD_ENV)),
               "warehouse": Warehouse(url=secret_from_environment(WAREHOUSE_URL_ENV))},
)

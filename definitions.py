"""The one Definitions object that `dagster dev`, the webserver and the CLI load."""

from dagster import Definitions, load_asset_checks_from_modules, load_assets_from_modules

import billing_assets.aggregation
import billing_assets.checks
import billing_assets.closeofday
import billing_assets.pricing
from jobs import aggregation_job, closeofday_job, closeofday_schedule, refresh_pricing_job
from resources import BillingDatabase, DocumentNotifier, FeedInbox
from sensors.feeds import feed_sensor

defs = Definitions(
    assets=load_assets_from_modules([billing_assets.aggregation, billing_assets.pricing, billing_assets.closeofday]),
    asset_checks=load_asset_checks_from_modules([billing_assets.checks]),
    jobs=[aggregation_job, refresh_pricing_job, closeofday_job],
    schedules=[closeofday_schedule],
    sensors=[feed_sensor],
    resources={"database": BillingDatabase(), "inbox": FeedInbox(), "notifier": DocumentNotifier()},
)

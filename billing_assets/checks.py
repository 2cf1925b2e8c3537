"""Asset checks: the invariants of DESIGN §6 after every job that moves legs and charges —
aggregation (for its feed), rollback, cancellation and disaggregation (over the whole
database, since they reach across feeds) — and those of the bills of a close of day (§7)."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, AssetsDefinition, asset_check

from billing.closeofday.dbck import SEVERE, WARNINGS, findings
from billing.errors import BillingError
from billing.invoicing.invariants import bill_totals_off, charges_on_two_bills, unbilled_charges
from billing.operations.metrics import feed_figures
from billing.tfm.invariants import charge_sqis_match_legs, comp_legs_on_one_charge, feed_reconciles
from billing_assets.aggregation import aggregation_cleanup
from billing_assets.cancellation import cancelled_feed
from billing_assets.closeofday import checked_database, partition_day, pending_bills
from billing_assets.disaggregation import completed_disaggregation
from billing_assets.feed_batches import feeds_of_run, feeds_to_process
from billing_assets.rollback import rolled_back_transactions
from resources import BillingDatabase, FeedInbox

COMP_LEGS = "Each COMP leg sits on exactly one non-canceled billable charge"
SQIS = "has SQIs (count, volume, amount) equal to the sums over its COMP legs"
RECONCILES = ("Every row of the feed is stored with a final status and, for a validated feed, amounts by status add "
              "up to the control total.")


def _result(problems: list[str], severity: AssetCheckSeverity = AssetCheckSeverity.ERROR) -> AssetCheckResult:
    return AssetCheckResult(
        passed=not problems,
        severity=severity,
        metadata={"violations": len(problems), "sample": "\n".join(problems) or "none"},
    )


DATABASE, FEEDS, EACH_FEED = "database", "feeds", "each feed"


def _invariant_check(asset: AssetsDefinition, name: str, description: str, invariant, scope: str):
    """A blocking check of ``invariant`` over the whole database, over the run's feeds at once
    (``invariant(conn, header_ids)``), or feed by feed (``invariant(conn, header_id)``)."""

    @asset_check(asset=asset, name=name, blocking=True, description=description)
    def _check(context: AssetCheckExecutionContext, database: BillingDatabase) -> AssetCheckResult:
        feeds = [] if scope == DATABASE else feeds_to_process(context, database.engine())
        with database.engine().connect() as conn:
            if scope == DATABASE:
                return _result(invariant(conn))
            if scope == FEEDS:
                return _result(invariant(conn, feeds))
            return _result([problem for feed in feeds for problem in invariant(conn, feed)])

    return _check


def _database_checks(asset: AssetsDefinition):
    return (
        _invariant_check(asset, "comp_legs_charged_once", f"{COMP_LEGS} (whole database).", comp_legs_on_one_charge,
                         DATABASE),
        _invariant_check(asset, "charge_sqis_equal_leg_sums", f"Each billable charge made from transactions {SQIS}.",
                         charge_sqis_match_legs, DATABASE),
    )


feed_comp_legs = _invariant_check(aggregation_cleanup, "comp_legs_charged_once", f"{COMP_LEGS}.",
                                  comp_legs_on_one_charge, FEEDS)
feed_charge_sqis = _invariant_check(aggregation_cleanup, "charge_sqis_equal_leg_sums",
                                    f"Each charge holding the feed's legs {SQIS}.", charge_sqis_match_legs, FEEDS)
feed_reconciles_check = _invariant_check(aggregation_cleanup, "feed_reconciles_with_control", RECONCILES,
                                         feed_reconciles, EACH_FEED)
rollback_comp_legs, rollback_charge_sqis = _database_checks(rolled_back_transactions)
cancellation_comp_legs, cancellation_charge_sqis = _database_checks(cancelled_feed)
cancelled_feed_reconciles = _invariant_check(cancelled_feed, "feed_reconciles_with_control", RECONCILES,
                                             feed_reconciles, EACH_FEED)
disaggregation_comp_legs, disaggregation_charge_sqis = _database_checks(completed_disaggregation)


@asset_check(asset=aggregation_cleanup, description="Data quality of the feed: the share of its transactions in "
             "EROR, against monitoring.performance_thresholds of batch_processing.yaml — above error_rate_warning "
             "(5 %) a warning, above error_rate_critical (10 %) an error. The feed is processed either way; the "
             "run monitor alerts on a failed check.")
def feed_error_rate(context: AssetCheckExecutionContext, database: BillingDatabase,
                    inbox: FeedInbox) -> AssetCheckResult:
    try:
        thresholds = inbox.operations_config().monitoring.performance_thresholds
    except BillingError as bad:
        return AssetCheckResult(passed=False, metadata={"configuration": str(bad)})
    with database.engine().connect() as conn:
        figures = feed_figures(conn, feeds_of_run(context))  # feeds never uploaded count nothing
    rate = figures.error_rate_pct or 0
    severity = AssetCheckSeverity.ERROR if rate > thresholds.error_rate_critical else AssetCheckSeverity.WARN
    return AssetCheckResult(
        passed=rate <= thresholds.error_rate_warning,
        severity=severity,
        metadata={"transactions": figures.records, "in_error": figures.error_records, "error_rate_pct": float(rate),
                  "warning_above_pct": thresholds.error_rate_warning,
                  "critical_above_pct": thresholds.error_rate_critical},
    )


@asset_check(asset=pending_bills, blocking=True, description="Each bill of the day: subtotal = the sum of its "
             "valued segments, total = subtotal + tax.")
def bill_totals_reconcile(context: AssetCheckExecutionContext, database: BillingDatabase) -> AssetCheckResult:
    with database.engine().connect() as conn:
        return _result(bill_totals_off(conn, partition_day(context)))


@asset_check(asset=pending_bills, blocking=True, description="No charge of the day's bills is on two bills.")
def charges_billed_once(context: AssetCheckExecutionContext, database: BillingDatabase) -> AssetCheckResult:
    with database.engine().connect() as conn:
        return _result(charges_on_two_bills(conn, partition_day(context)))


@asset_check(asset=pending_bills, description="Every billable charge of an account billed on the day that ends in "
             "the bill's window, or earlier, is on a bill.")
def closed_windows_fully_billed(context: AssetCheckExecutionContext, database: BillingDatabase) -> AssetCheckResult:
    with database.engine().connect() as conn:
        return _result(unbilled_charges(conn, partition_day(context)))


@asset_check(asset=checked_database, blocking=True, description="dbck, severe: " + "; ".join(SEVERE) + ". A "
             "failure stops the day's close until the data is fixed.")
def dbck_severe(database: BillingDatabase) -> AssetCheckResult:
    with database.engine().connect() as conn:
        return _result(findings(conn, SEVERE))


@asset_check(asset=checked_database, description="dbck, warnings: " + "; ".join(WARNINGS) + ". Shown, never "
             "blocking.")
def dbck_warnings(database: BillingDatabase) -> AssetCheckResult:
    with database.engine().connect() as conn:
        return _result(findings(conn, WARNINGS), AssetCheckSeverity.WARN)

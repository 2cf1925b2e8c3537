"""Asset checks: the invariants of DESIGN §6 for the feed just aggregated, and those of the
bills of a close of day (DESIGN §7)."""

from dagster import AssetCheckExecutionContext, AssetCheckResult, asset_check

from billing.invoicing.invariants import bill_totals_off, charges_on_two_bills, unbilled_charges
from billing.tfm.invariants import charge_sqis_match_legs, comp_legs_on_one_charge, feed_reconciles
from billing_assets.aggregation import aggregation_cleanup
from billing_assets.closeofday import partition_day, pending_bills
from resources import BillingDatabase


def _result(problems: list[str]) -> AssetCheckResult:
    return AssetCheckResult(
        passed=not problems,
        metadata={"violations": len(problems), "sample": "\n".join(problems) or "none"},
    )


@asset_check(asset=aggregation_cleanup, blocking=True, description="Each COMP leg sits on exactly one "
             "non-canceled billable charge.")
def comp_legs_charged_once(context: AssetCheckExecutionContext, database: BillingDatabase) -> AssetCheckResult:
    with database.engine().connect() as conn:
        return _result(comp_legs_on_one_charge(conn, context.partition_key))


@asset_check(asset=aggregation_cleanup, blocking=True, description="Each charge holding the feed's legs has "
             "SQIs (count, volume, amount) equal to the sums over its COMP legs.")
def charge_sqis_equal_leg_sums(context: AssetCheckExecutionContext, database: BillingDatabase) -> AssetCheckResult:
    with database.engine().connect() as conn:
        return _result(charge_sqis_match_legs(conn, context.partition_key))


@asset_check(asset=aggregation_cleanup, blocking=True, description="Every row of the feed is stored with a "
             "final status and, for a validated feed, amounts by status add up to the control total.")
def feed_reconciles_with_control(context: AssetCheckExecutionContext, database: BillingDatabase) -> AssetCheckResult:
    with database.engine().connect() as conn:
        return _result(feed_reconciles(conn, context.partition_key))


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

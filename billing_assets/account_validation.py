"""The daily account validation (the seed's "Daily Account Validation" batch, issue 7 item 7),
partitioned by business day like the close of day, whose reference data it reads.

``account_validation_results`` validates the day in one transaction (results and error log
of the day replaced); one asset check per rule family reads back what it found, so the UI
shows each family red (ERROR: billing would go wrong) or yellow (WARN: warnings only). The
checks do not block: validation reports, it changes nothing that could be stopped.
"""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)

from billing.tfm.report import markdown_table
from billing.validation import (
    CHECKS,
    RULES,
    accounts,
    contracts,
    failed_by_severity,
    failures,
    rates,
    services,
    validate_accounts,
)
from billing_assets.closeofday import partition_day
from billing_assets.failures import refused_as_failure
from billing_assets.partitions import days_partitions
from resources import BillingDatabase

GROUP = "account_validation"


@asset(
    partitions_def=days_partitions,
    group_name=GROUP,
    tags={"seed_batch": "account_validation_batch"},
    description="Daily Account Validation (account_validation_batch): " + ", ".join(CHECKS) + " over the reference data as of the business "
    "day — one row per rule in validation_result, one per failing entity in validation_error (what is wrong, what to "
    "fix). Re-running the day replaces its rows.",
)
def account_validation_results(context: AssetExecutionContext, database: BillingDatabase) -> MaterializeResult:
    with database.engine().begin() as conn:
        summary = refused_as_failure(lambda: validate_accounts(conn, partition_day(context)))
    by_severity = summary.failed_by_severity
    return MaterializeResult(metadata={
        "errors": by_severity.get("ERROR", 0),
        "warnings": by_severity.get("WARNING", 0),
        "results": MetadataValue.md(markdown_table(
            [{key: result[key] for key in ("rule", "severity", "checked", "failed")} for result in summary.results])),
        "failures_preview": MetadataValue.md(markdown_table(summary.failures)),
    })


def _family_check(check: str):
    """The asset check of one rule family: failed when the day's error log has entries of its
    rules, ERROR when one of them is, WARN when all are warnings."""
    rules = ", ".join(rule.code for rule in RULES if rule.check == check)

    @asset_check(asset=account_validation_results, name=check,
                 description=f"{check}: no failing entity on the day for {rules}.")
    def _check(context: AssetCheckExecutionContext, database: BillingDatabase) -> AssetCheckResult:
        day = partition_day(context)
        with database.engine().connect() as conn:
            counts = failed_by_severity(conn, day, check)
            sample = failures(conn, day, check)
        return AssetCheckResult(
            passed=not counts,
            severity=AssetCheckSeverity.ERROR if counts.get("ERROR") else AssetCheckSeverity.WARN,
            metadata={"errors": counts.get("ERROR", 0), "warnings": counts.get("WARNING", 0),
                      "sample": MetadataValue.md(markdown_table(sample))},
        )

    return _check


account_completeness_check = _family_check(accounts.CHECK)
contract_validity_check = _family_check(contracts.CHECK)
rate_consistency_check = _family_check(rates.CHECK)
service_configuration_check = _family_check(services.CHECK)

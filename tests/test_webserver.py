"""The real `dagster-webserver` on the repository's workspace.yaml: the code location loads
without error, the UI's GraphQL API lists every asset, asset check, job, sensor and schedule, and
it shows the close of day's daily partitions — the demo's month for every step — with the demo
day's materialization metadata.

The expected names are written out here, not read from the code under test. The server
runs as a subprocess in a session of its own, with DAGSTER_HOME and BILLING_HOME in a
temporary folder; it is stopped by pid (SIGTERM, then SIGKILL of its process group).
"""

from __future__ import annotations

import subprocess
import sys

from tests.webserver import BIN, REPO_ROOT, WEBSERVER, billing_env, graphql, start_webserver, stop, wait_until_loaded

LOCATION = "billing"

EXPECTED_ASSETS = {
    "staged_feed",
    "validated_header",
    "validated_transactions",
    "transaction_legs",
    "transaction_summaries",
    "effective_pricing",
    "priced_summaries",
    "leg_statuses",
    "billable_charges",
    "completed_transactions",
    "aggregation_cleanup",
}
# The close of day, in the seed's order: the UI shows a daily partition of each per day closed.
CLOSEOFDAY_ASSETS = ["checked_database", "managed_files", "tax_rates_in_effect", "entity_statuses",
                     "recurring_charges", "account_balances", "late_fees", "overdue_accounts", "financial_activity",
                     "pending_bills", "paid_services", "customer_notices", "daily_statistics",
                     "payment_info_removed", "completed_bills", "invoice_documents", "closed_day"]
EXPECTED_ASSETS |= {*CLOSEOFDAY_ASSETS, "payments"}
EXPECTED_JOBS = {"aggregation_job", "refresh_pricing_job", "closeofday_job", "payments_job"}
EXPECTED_SENSORS = {"feed_sensor", "payment_sensor"}
EXPECTED_CHECKS = {
    ("aggregation_cleanup", "comp_legs_charged_once"),
    ("aggregation_cleanup", "charge_sqis_equal_leg_sums"),
    ("aggregation_cleanup", "feed_reconciles_with_control"),
    ("pending_bills", "bill_totals_reconcile"),
    ("pending_bills", "charges_billed_once"),
    ("pending_bills", "closed_windows_fully_billed"),
    ("checked_database", "dbck_severe"),
    ("checked_database", "dbck_warnings"),
}
DEMO_MONTH = 31  # the demo closes 2026-10-22 … 2026-11-21
DEMO_DAY = "2026-11-21"

REPOSITORIES_QUERY = """
query {
  repositoriesOrError {
    __typename
    ... on PythonError { message stack }
    ... on RepositoryConnection {
      nodes {
        name
        location { name }
        jobs { name }
        sensors { name }
        schedules { name }
      }
    }
  }
}
"""

ASSETS_QUERY = """
query {
  assetNodes {
    assetKey { path }
    partitionStats { numMaterialized }
    assetChecksOrError {
      __typename
      ... on AssetChecks { checks { name assetKey { path } blocking } }
    }
  }
}
"""


CLOSEOFDAY_QUERY = """
query {
  assetNodeOrError(assetKey: {path: ["pending_bills"]}) {
    __typename
    ... on AssetNode {
      partitionKeys
      assetMaterializations(partitions: ["%s"]) {
        partition
        metadataEntries { label ... on IntMetadataEntry { intValue } ... on MarkdownMetadataEntry { mdStr } }
      }
    }
  }
}
""" % DEMO_DAY


def test_webserver_loads_every_definition(tmp_path):
    assert WEBSERVER.exists(), f"{WEBSERVER} is missing: install dagster-webserver next to {sys.executable}"
    env = billing_env(tmp_path, f"sqlite:///{tmp_path / 'billing.db'}")
    # The demo runs first: feeds, then a month of close of day, in this DAGSTER_HOME.
    demo = subprocess.run([str(BIN / "billing"), "demo", "--feeds", "1", "--rows", "300"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr
    base, process = start_webserver(tmp_path, env)
    try:
        workspace = wait_until_loaded(base, process, tmp_path / "webserver.log")

        # The code location loaded, without a PythonError.
        entries = {entry["name"]: entry for entry in workspace["locationEntries"]}
        assert LOCATION in entries, f"code location {LOCATION!r} missing: {sorted(entries)}"
        for name, entry in entries.items():
            loaded = entry["locationOrLoadError"]
            assert loaded is not None, f"location {name} has no load result"
            assert loaded["__typename"] == "RepositoryLocation", (
                f"location {name} failed to load: {loaded.get('message')}\n{''.join(loaded.get('stack') or [])}"
            )
        assert entries[LOCATION]["locationOrLoadError"]["repositories"], "the billing location has no repository"

        # Jobs and sensors.
        repositories = graphql(base, REPOSITORIES_QUERY)["repositoriesOrError"]
        assert repositories["__typename"] == "RepositoryConnection", repositories
        nodes = [node for node in repositories["nodes"] if node["location"]["name"] == LOCATION]
        assert nodes, f"no repository in location {LOCATION}: {repositories}"
        jobs = {job["name"] for node in nodes for job in node["jobs"]}
        sensors = {sensor["name"] for node in nodes for sensor in node["sensors"]}
        assert EXPECTED_JOBS <= jobs, f"missing jobs: {sorted(EXPECTED_JOBS - jobs)} (found {sorted(jobs)})"
        assert EXPECTED_SENSORS <= sensors, (
            f"missing sensors: {sorted(EXPECTED_SENSORS - sensors)} (found {sorted(sensors)})"
        )
        assert "closeofday_schedule" in {schedule["name"] for node in nodes for schedule in node["schedules"]}

        # The close of day's daily partitions, and the demo day's materialization with its metadata.
        bills = graphql(base, CLOSEOFDAY_QUERY)["assetNodeOrError"]
        assert bills["__typename"] == "AssetNode", bills
        assert bills["partitionKeys"][0] == "2025-01-01" and DEMO_DAY in bills["partitionKeys"]
        [materialization] = bills["assetMaterializations"]
        metadata = {entry["label"]: entry.get("intValue", entry.get("mdStr")) for entry in
                    materialization["metadataEntries"]}
        assert materialization["partition"] == DEMO_DAY
        assert metadata["bills_created"] > 0 and "| account_id |" in metadata["bills_preview"]

        # Assets and their checks.
        asset_nodes = graphql(base, ASSETS_QUERY)["assetNodes"]
        assets = {"/".join(node["assetKey"]["path"]) for node in asset_nodes}
        assert EXPECTED_ASSETS <= assets, f"missing assets: {sorted(EXPECTED_ASSETS - assets)} (found {sorted(assets)})"
        checks = set()
        for node in asset_nodes:
            answer = node["assetChecksOrError"]
            assert answer["__typename"] == "AssetChecks", f"{node['assetKey']['path']}: {answer}"
            for check in answer["checks"]:
                checks.add(("/".join(check["assetKey"]["path"]), check["name"]))
        assert EXPECTED_CHECKS <= checks, f"missing checks: {sorted(EXPECTED_CHECKS - checks)} (found {sorted(checks)})"
        materialized = {"/".join(node["assetKey"]["path"]): (node["partitionStats"] or {}).get("numMaterialized")
                        for node in asset_nodes}
        assert {name: materialized[name] for name in CLOSEOFDAY_ASSETS} == dict.fromkeys(CLOSEOFDAY_ASSETS, DEMO_MONTH)
    finally:
        stop(process)
    assert process.poll() is not None, "dagster-webserver is still running"


LAUNCH_MUTATION = """
mutation {
  launchRun(executionParams: {
    selector: {repositoryLocationName: "billing", repositoryName: "__repository__", jobName: "refresh_pricing_job"}
  }) {
    __typename
    ... on UnauthorizedError { message }
    ... on PythonError { message }
  }
}
"""


def test_a_read_only_webserver_refuses_a_launch(tmp_path):
    """The deployment for monitor-only roles: `dagster-webserver --read-only` shows everything
    and launches nothing."""
    env = billing_env(tmp_path, f"sqlite:///{tmp_path / 'billing.db'}")
    base, process = start_webserver(tmp_path, env, "--read-only")
    try:
        wait_until_loaded(base, process, tmp_path / "webserver.log")
        jobs = {job["name"] for node in graphql(base, REPOSITORIES_QUERY)["repositoriesOrError"]["nodes"]
                for job in node["jobs"]}
        assert "refresh_pricing_job" in jobs  # it sees the job …
        refused = graphql(base, LAUNCH_MUTATION)["launchRun"]
        assert refused["__typename"] == "UnauthorizedError", refused  # … and may not launch it
    finally:
        stop(process)

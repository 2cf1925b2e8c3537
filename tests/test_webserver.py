"""The real `dagster-webserver` on the repository's workspace.yaml: the code location loads
without error, the UI's GraphQL API lists every asset, asset check, job, sensor and schedule, and
it shows the close of day's daily partitions — the demo's month for every step — with the demo
day's materialization metadata.

The expected names are written out here, not read from the code under test. The server
runs as a subprocess in a session of its own, with DAGSTER_HOME and BILLING_HOME in a
temporary folder; it is stopped by pid (SIGTERM, then SIGKILL of its process group).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
WEBSERVER = Path(sys.executable).parent / "dagster-webserver"
LOCATION = "billing"
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 20

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

LOCATIONS_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on PythonError { message stack }
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message stack }
          ... on RepositoryLocation { name repositories { name } }
        }
      }
    }
  }
}
"""

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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _graphql(base: str, query: str, timeout: float = 30) -> dict:
    request = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": query}).encode("utf-8"),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = json.loads(response.read().decode("utf-8"))
    assert not body.get("errors"), f"GraphQL errors: {body['errors']}"
    return body["data"]


def _log_tail(log_path: Path, chars: int = 4000) -> str:
    try:
        return log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def _wait_until_loaded(base: str, process: subprocess.Popen, log_path: Path) -> dict:
    """Poll until the server answers and the code location is no longer LOADING; return the
    ``workspaceOrError`` answer."""
    deadline = time.monotonic() + START_TIMEOUT_S
    last_problem = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"dagster-webserver exited with {process.returncode} before answering:\n{_log_tail(log_path)}"
            )
        try:
            with urllib.request.urlopen(f"{base}/server_info", timeout=5) as response:
                response.read()
            workspace = _graphql(base, LOCATIONS_QUERY, timeout=10)["workspaceOrError"]
            entries = workspace.get("locationEntries") or []
            if workspace["__typename"] == "Workspace" and entries and all(
                entry["loadStatus"] == "LOADED" for entry in entries
            ):
                return workspace
            last_problem = f"workspace not loaded yet: {workspace}"
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as error:
            last_problem = repr(error)
        time.sleep(0.5)
    raise AssertionError(
        f"dagster-webserver did not load within {START_TIMEOUT_S} s ({last_problem}):\n{_log_tail(log_path)}"
    )


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the server by pid; SIGKILL its whole process group (the server and the code
    server it spawned) if it has not gone after STOP_TIMEOUT_S, and in any case afterwards."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
    # The group is the session start_new_session=True created for this server alone.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait(timeout=STOP_TIMEOUT_S)


def _start_webserver(tmp_path: Path, env: dict, *options: str) -> tuple[str, subprocess.Popen]:
    """``dagster-webserver`` on the workspace, on a free loopback port, logging to webserver.log."""
    port = _free_port()
    with open(tmp_path / "webserver.log", "wb") as log:
        process = subprocess.Popen(
            [str(WEBSERVER), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port), *options],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return f"http://127.0.0.1:{port}", process


def test_webserver_loads_every_definition(tmp_path):
    assert WEBSERVER.exists(), f"{WEBSERVER} is missing: install dagster-webserver next to {sys.executable}"
    home = tmp_path / "billing_home"
    dagster_home = tmp_path / "dagster_home"
    home.mkdir()
    dagster_home.mkdir()
    env = {
        **os.environ,
        "BILLING_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "BILLING_DATABASE_URL": f"sqlite:///{tmp_path / 'billing.db'}",
    }
    # The demo runs first: feeds, then a month of close of day, in this DAGSTER_HOME.
    demo = subprocess.run([str(Path(sys.executable).parent / "billing"), "demo", "--feeds", "1", "--rows", "300"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr
    base, process = _start_webserver(tmp_path, env)
    try:
        workspace = _wait_until_loaded(base, process, tmp_path / "webserver.log")

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
        repositories = _graphql(base, REPOSITORIES_QUERY)["repositoriesOrError"]
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
        bills = _graphql(base, CLOSEOFDAY_QUERY)["assetNodeOrError"]
        assert bills["__typename"] == "AssetNode", bills
        assert bills["partitionKeys"][0] == "2025-01-01" and DEMO_DAY in bills["partitionKeys"]
        [materialization] = bills["assetMaterializations"]
        metadata = {entry["label"]: entry.get("intValue", entry.get("mdStr")) for entry in
                    materialization["metadataEntries"]}
        assert materialization["partition"] == DEMO_DAY
        assert metadata["bills_created"] > 0 and "| account_id |" in metadata["bills_preview"]

        # Assets and their checks.
        asset_nodes = _graphql(base, ASSETS_QUERY)["assetNodes"]
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
        _stop(process)
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
    env = {**os.environ, "BILLING_HOME": str(tmp_path / "billing_home"), "DAGSTER_HOME": str(tmp_path),
           "BILLING_DATABASE_URL": f"sqlite:///{tmp_path / 'billing.db'}"}
    base, process = _start_webserver(tmp_path, env, "--read-only")
    try:
        _wait_until_loaded(base, process, tmp_path / "webserver.log")
        jobs = {job["name"] for node in _graphql(base, REPOSITORIES_QUERY)["repositoriesOrError"]["nodes"]
                for job in node["jobs"]}
        assert "refresh_pricing_job" in jobs  # it sees the job …
        refused = _graphql(base, LAUNCH_MUTATION)["launchRun"]
        assert refused["__typename"] == "UnauthorizedError", refused  # … and may not launch it
    finally:
        _stop(process)

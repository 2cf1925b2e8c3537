"""The real Dagster servers for tests: `dagster-webserver` and `dagster-daemon run` on the
repository's workspace.yaml, each a subprocess in a session of its own on loopback, with
DAGSTER_HOME and BILLING_HOME in a temporary folder; their GraphQL API over plain HTTP; and
stopping them by pid (SIGTERM, then SIGKILL of the process group: the server and the code
server and run workers it spawned).
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
BIN = Path(sys.executable).parent
WEBSERVER = BIN / "dagster-webserver"
DAEMON = BIN / "dagster-daemon"
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 20

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


def billing_env(folder: Path, database_url: str) -> dict:
    """The environment of the servers: BILLING_HOME and DAGSTER_HOME (both created) under
    ``folder``, the billing database at ``database_url``."""
    home = folder / "billing_home"
    dagster_home = folder / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    dagster_home.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "BILLING_HOME": str(home), "DAGSTER_HOME": str(dagster_home),
            "BILLING_DATABASE_URL": database_url}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(base: str, query: str, variables: dict | None = None, timeout: float = 30) -> dict:
    """POST ``query`` to the webserver's ``/graphql``; the ``data`` of an answer without errors."""
    request = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode("utf-8"),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = json.loads(response.read().decode("utf-8"))
    assert not body.get("errors"), f"GraphQL errors: {body['errors']}"
    return body["data"]


def log_tail(log_path: Path, chars: int = 4000) -> str:
    try:
        return log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def wait_until_loaded(base: str, process: subprocess.Popen, log_path: Path) -> dict:
    """Poll until the server answers and the code location is no longer LOADING; return the
    ``workspaceOrError`` answer."""
    deadline = time.monotonic() + START_TIMEOUT_S
    last_problem = "no answer yet"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"dagster-webserver exited with {process.returncode} before answering:\n{log_tail(log_path)}"
            )
        try:
            with urllib.request.urlopen(f"{base}/server_info", timeout=5) as response:
                response.read()
            workspace = graphql(base, LOCATIONS_QUERY, timeout=10)["workspaceOrError"]
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
        f"dagster-webserver did not load within {START_TIMEOUT_S} s ({last_problem}):\n{log_tail(log_path)}"
    )


def stop(process: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the server by pid; SIGKILL its whole process group (the server and the code
    server it spawned, which may outlive a SIGTERM) if it has not gone after ``timeout``, and
    in any case afterwards."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
    # The group is the session start_new_session=True created for this server alone.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.wait(timeout=STOP_TIMEOUT_S)


def _spawn(command: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def start_webserver(folder: Path, env: dict, *options: str) -> tuple[str, subprocess.Popen]:
    """``dagster-webserver`` on the workspace, on a free loopback port, logging to
    ``folder/webserver.log``."""
    port = free_port()
    process = _spawn([str(WEBSERVER), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port), *options],
                     env, folder / "webserver.log")
    return f"http://127.0.0.1:{port}", process


def start_daemon(folder: Path, env: dict) -> subprocess.Popen:
    """``dagster-daemon run`` on the workspace (schedules, sensors, the run queue, backfills),
    logging to ``folder/daemon.log``."""
    return _spawn([str(DAEMON), "run", "-w", "workspace.yaml"], env, folder / "daemon.log")

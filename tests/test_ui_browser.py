"""The UI in a real browser: headless Chromium (Selenium driving Debian's `chromium` through
its `chromedriver`) on the real `dagster-webserver`, with `dagster-daemon run` beside it, for a
small demo database — one feed, two business days closed — on PostgreSQL when
BILLING_TEST_DATABASE_URL is set, SQLite otherwise.

It opens the aggregation group's asset graph, a feed partition's page with its
materialization metadata, the close of day's daily partitions, and launches a backfill of the
next two days from the close-of-day job's page (Materialize all… → partition range → Launch
backfill); the daemon runs it. Each page is saved as a screenshot under `.ci/artifacts/`
(with the servers' logs), which CI keeps.

Expected names and numbers are written out here or computed from the database with SQL of
this file, not read from the code under test (which gives only the setup: the demo's feed and
business day, the production run queue). Pages are found by stable URLs and asserted on
their text, waiting for it explicitly: Dagster's CSS class names change between versions.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import text

from billing.cli import main
from billing.demo.feeds import DEMO_BUSINESS_DATE, write_demo_feeds
from billing.operations.config import load_config
from billing.operations.instance import instance_settings
from tests.conftest import POSTGRES_URL
from tests.webserver import (
    REPO_ROOT,
    billing_env,
    graphql,
    log_tail,
    start_daemon,
    start_webserver,
    stop,
    wait_until_loaded,
)

ARTIFACTS = REPO_ROOT / ".ci" / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
PAGE_TIMEOUT_S = 60
BACKFILL_TIMEOUT_S = 150  # the daemon looks at backfills every 30 s; two runs of the close of day, one at a time

AGGREGATION_ASSETS = ["staged_feed", "validated_header", "validated_transactions", "transaction_legs",
                      "transaction_summaries", "effective_pricing", "priced_summaries", "leg_statuses",
                      "billable_charges", "completed_transactions", "aggregation_cleanup"]
CLOSEOFDAY_ASSET_COUNT = 17
BUSINESS_TIMEZONE = ZoneInfo("America/Chicago")

BACKFILLS_QUERY = """
query {
  partitionBackfillsOrError {
    __typename
    ... on PartitionBackfills {
      results {
        id status isAssetBackfill partitionNames partitionSetName
        partitionSet { pipelineName }
        runs { runId status pipelineName startTime endTime tags { key value } }
      }
    }
  }
}
"""
BACKFILL_RUNNING = {"REQUESTED", "CANCELING", "FAILING"}


def _browser_or_skip():
    """The headless browser's pieces, or a skip saying what is missing (a failure under CI=true:
    `.ci/run` installs them)."""
    missing = [name for name, found in (("chromium", CHROMIUM), ("chromedriver (chromium-driver)", CHROMEDRIVER))
               if not found]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[dev]')")
    if missing:
        reason = f"the UI browser test needs {', '.join(missing)}: apt-get install chromium chromium-driver"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true requires it)")
        pytest.skip(reason)


def _days() -> tuple[list[date], list[date]]:
    """The two days the preparation closes, and the two after them that the UI backfills: the
    demo's business day and the day before it, or today and yesterday in America/Chicago if the
    demo's day has not come yet (a day is a partition from its own date on)."""
    last = min(DEMO_BUSINESS_DATE, datetime.now(BUSINESS_TIMEZONE).date())
    return [last - timedelta(days=3), last - timedelta(days=2)], [last - timedelta(days=1), last]


def _prepare(tmp_path: Path, env: dict, monkeypatch, closed: list[date]) -> None:
    """A small demo: sample reference data, one feed of 200 transactions, two days closed —
    through the CLI, in this process, with the servers' environment. The instance queues runs
    as the production one does (deploy/dagster.yaml: one close-of-day run at a time), on
    SQLite storage in DAGSTER_HOME."""
    for name in ("BILLING_HOME", "DAGSTER_HOME", "BILLING_DATABASE_URL"):
        monkeypatch.setenv(name, env[name])
    production = instance_settings(load_config(Path(env["BILLING_HOME"])))
    instance = {"run_coordinator": production["run_coordinator"],
                "concurrency": {"runs": production["concurrency"]["runs"]}, "telemetry": {"enabled": False}}
    (Path(env["DAGSTER_HOME"]) / "dagster.yaml").write_text(yaml.safe_dump(instance), encoding="utf-8")
    [control] = write_demo_feeds(tmp_path / "feeds", 1, 200)
    runner = CliRunner()
    for args in (["reference", "load", str(REPO_ROOT / "sample_data" / "reference")],
                 ["feed", "process", str(control), "--business-date", DEMO_BUSINESS_DATE.isoformat()],
                 *(["closeofday", "--date", day.isoformat()] for day in closed)):
        result = runner.invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0, f"billing {' '.join(args)}:\n{result.output}"


@pytest.fixture
def driver(tmp_path):
    """Headless Chromium under chromedriver; quit (and the driver process killed) afterwards."""
    _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1600,1000", f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    service = Service(executable_path=CHROMEDRIVER, log_output=str(tmp_path / "chromedriver.log"))
    browser = webdriver.Chrome(service=service, options=options)
    try:
        yield browser
    finally:
        try:
            browser.quit()
        finally:
            if service.process is not None and service.process.poll() is None:
                service.process.kill()
                service.process.wait(timeout=10)


class Page:
    """The browser on the webserver at ``base``: open a path, wait for text, screenshot."""

    def __init__(self, browser, base: str):
        self.browser = browser
        self.base = base

    def open(self, path: str, width: int = 1600, height: int = 1000) -> None:
        self.browser.set_window_size(width, height)
        self.browser.get(self.base + path)

    def text(self) -> str:
        from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
        from selenium.webdriver.common.by import By

        try:
            return self.browser.find_element(By.TAG_NAME, "body").text
        except (StaleElementReferenceException, WebDriverException):
            return ""

    def wait_for(self, what: str, condition, timeout: float = PAGE_TIMEOUT_S):
        """Wait until ``condition(page text)`` is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            page = self.text()
            value = condition(page)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not on {self.browser.current_url} after {timeout} s; the page says:\n"
                                     f"{page[:3000]}")
            time.sleep(0.5)

    def wait_for_all(self, what: str, needles: list[str], timeout: float = PAGE_TIMEOUT_S) -> str:
        return self.wait_for(what, lambda page: page if all(needle in page for needle in needles) else None, timeout)

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def _count(page: str, label: str) -> int | None:
    """The number after ``label`` on the page (a metadata key and its value, "Materialized (2)")."""
    found = re.search(rf"{re.escape(label)}\s+\(?(\d+)\)?", page)
    return int(found.group(1)) if found else None


def _partitions(page: str, count: int) -> bool:
    """"N partitions" on the page, N exactly ("Showing 90 of 690 partitions" is not "0 partitions")."""
    return re.search(rf"(?<![\d,]){count} partitions\b", page) is not None


def _transactions_by_status(engine, header_id: str) -> dict[str, int]:
    """The feed's transactions by status, processed and still staged, straight from the tables."""
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        for table in ("txn_detail", "txn_detail_stg"):
            rows = conn.execute(text(f"SELECT status, COUNT(*) FROM {table} WHERE header_id = :h GROUP BY status"),
                                {"h": header_id})
            for status, count in rows:
                counts[status] = counts.get(status, 0) + count
    return counts


def _launch_backfill(page: Page, days: list[date]) -> None:
    """Materialize all… on the close-of-day job's page, the two days as a custom partition
    range, Launch backfill."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    page.open("/locations/billing/jobs/closeofday_job")
    page.wait_for_all("the close-of-day job page", ["closeofday_job", "Materialize all"])
    button = page.wait_for("the Materialize all button", lambda _: next(iter(page.browser.find_elements(
        By.XPATH, "//button[contains(normalize-space(.), 'Materialize all')][not(@disabled)]")), None))
    button.click()
    dialog = page.wait_for("the launch dialog", lambda _: next(iter(page.browser.find_elements(
        By.CSS_SELECTOR, "[role=dialog]")), None))
    page.wait_for_all("the launch dialog's partition selection",
                      [f"Launch runs to materialize {CLOSEOFDAY_ASSET_COUNT} assets", "Partition selection"])
    selection = dialog.find_element(By.CSS_SELECTOR, "input[type=text]")
    selection.click()
    selection.send_keys(f"[{days[0].isoformat()}...{days[-1].isoformat()}]", Keys.TAB)
    page.wait_for("the two days selected", lambda shown: _partitions(shown, len(days)))
    page.screenshot("ui-backfill-dialog")
    dialog.find_element(By.XPATH, ".//button[normalize-space(.)='Launch backfill']").click()
    page.wait_for("the launch dialog closed", lambda _: not page.browser.find_elements(By.CSS_SELECTOR,
                                                                                         "[role=dialog]"))


def _backfills(base: str) -> list[dict]:
    answer = graphql(base, BACKFILLS_QUERY)["partitionBackfillsOrError"]
    assert answer["__typename"] == "PartitionBackfills", answer
    return answer["results"]


def _finished_backfill(base: str, backfill_id: str) -> dict:
    deadline = time.monotonic() + BACKFILL_TIMEOUT_S
    while True:
        [backfill] = [each for each in _backfills(base) if each["id"] == backfill_id]
        if backfill["status"] not in BACKFILL_RUNNING:
            return backfill
        if time.monotonic() > deadline:
            raise AssertionError(f"backfill {backfill_id} not finished after {BACKFILL_TIMEOUT_S} s: {backfill}")
        time.sleep(2)


@pytest.mark.parametrize("db_url", ["postgresql" if POSTGRES_URL else "sqlite"], indirect=True)
@pytest.mark.timeout(420)
def test_the_ui_in_a_browser(tmp_path, db_url, engine, driver, monkeypatch):
    closed, backfilled = _days()
    env = billing_env(tmp_path, db_url)
    _prepare(tmp_path, env, monkeypatch, closed)
    with engine.connect() as conn:
        [header_id] = conn.execute(text("SELECT header_id FROM txn_header")).scalars().all()
    by_status = _transactions_by_status(engine, header_id)
    assert by_status.get("COMP", 0) > 0 and len(by_status) > 1, by_status  # a feed with errors to show

    base, webserver = start_webserver(tmp_path, env)
    daemon = start_daemon(tmp_path, env)
    page = Page(driver, base)
    try:
        wait_until_loaded(base, webserver, tmp_path / "webserver.log")
        graphql(base, "mutation { setNuxSeen }")  # the "Join the Dagster community" dialog, dismissed

        # The aggregation group's asset graph: every step of the lineage, by its full name (a
        # window wide enough for the graph to draw whole nodes rather than abbreviated ones).
        page.open("/locations/billing/asset-groups/aggregation", width=2800, height=1100)
        page.wait_for_all("the aggregation group's assets", AGGREGATION_ASSETS)
        page.screenshot("ui-asset-graph")

        # A feed partition's page: completed_transactions (C1-TXNCM) for the demo feed, its
        # materialization's counts of transactions by status equal to the database's.
        page.open(f"/assets/completed_transactions?view=partitions&partition={header_id}")
        shown = page.wait_for_all("the feed partition's metadata", [header_id, "transactions_COMP", "legs_completed"])
        assert {status: _count(shown, f"transactions_{status}") for status in by_status} == by_status, shown
        page.screenshot("ui-feed-partition")

        # The close of day's daily partitions: the two closed days materialized, the others missing.
        page.open("/assets/closed_day?view=partitions")
        shown = page.wait_for_all("the close of day's partitions", ["Materialized (", *(d.isoformat() for d in closed)])
        assert _count(shown, "Materialized") == len(closed), shown
        assert "2025-01-01" in shown  # the first business day the platform can close
        page.screenshot("ui-closeofday-partitions")

        # A backfill of the next two days, launched in the UI, on the Backfills page …
        _launch_backfill(page, backfilled)
        backfills = page.wait_for("the backfill recorded", lambda _: _backfills(base), timeout=20)
        assert len(backfills) == 1, backfills
        [backfill] = backfills
        # … for exactly those two partitions of the close-of-day job.
        assert backfill["partitionNames"] == [day.isoformat() for day in backfilled], backfill
        assert backfill["partitionSet"]["pipelineName"] == "closeofday_job", backfill
        page.open("/runs?view=backfills")
        page.wait_for("the backfill on the Backfills page",
                      lambda shown: backfill["id"] in shown and _partitions(shown, len(backfilled)))
        page.screenshot("ui-backfills")

        # The daemon runs it: one run per day, in order, both succeeded, the days closed.
        backfill = _finished_backfill(base, backfill["id"])
        runs = {next(tag["value"] for tag in run["tags"] if tag["key"] == "dagster/partition"): run
                for run in backfill["runs"]}
        assert sorted(runs) == [day.isoformat() for day in backfilled], backfill
        assert {run["status"] for run in runs.values()} == {"SUCCESS"}, backfill
        assert {run["pipelineName"] for run in runs.values()} == {"closeofday_job"}, backfill
        first, second = (runs[day.isoformat()] for day in backfilled)
        assert first["endTime"] <= second["startTime"], backfill  # the queue ran the days one after the other
        assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill
        with engine.connect() as conn:
            logged = {row[0] for row in conn.execute(text("SELECT business_dt FROM closeofday_log"))}
        assert {date.fromisoformat(str(day)[:10]) for day in logged} == {*closed, *backfilled}
        page.open(f"/runs/b/{backfill['id']}")
        page.wait_for_all("the finished backfill's page", [backfill["id"], "closeofday_job", "Succeeded"])
        page.screenshot("ui-backfill-done")
        page.open("/assets/closed_day?view=partitions")
        page.wait_for("the backfilled days materialized",
                      lambda shown: _count(shown, "Materialized") == len(closed) + len(backfilled))
        page.screenshot("ui-closeofday-partitions-after")
    except BaseException:
        with contextlib.suppress(Exception):  # the page as it was when the test failed
            page.screenshot("ui-failure")
        raise
    finally:
        stop(daemon, timeout=10)
        stop(webserver)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for log in ("webserver.log", "daemon.log"):
            (ARTIFACTS / f"ui-{log}").write_text(log_tail(tmp_path / log, 200_000), encoding="utf-8")
    assert webserver.poll() is not None and daemon.poll() is not None

"""Shared fixtures: a real billing database on SQLite, and on PostgreSQL when
``BILLING_TEST_DATABASE_URL`` is set (CI sets it and requires it)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, text

from billing.db.engine import make_engine
from billing.db.migrate import upgrade
from billing.db.schema import metadata
from billing.operations.config import SHIPPED


def _fast_retrying_config() -> Path:
    """The shipped batch_processing.yaml with one immediate retry instead of three spread over
    55 minutes: tests that make a step fail on purpose (a mail server down) must not wait.
    Set before the job definitions are imported, which read it once."""
    values = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    values["error_handling"]["retry_configuration"].update(max_retries=1, retry_delay=0)
    path = Path(tempfile.mkdtemp(prefix="billing-tests-")) / "batch_processing.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


os.environ["BILLING_CONFIG"] = str(_fast_retrying_config())

POSTGRES_URL = os.environ.get("BILLING_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


@pytest.fixture(scope="session")
def _postgres_engine():
    if not POSTGRES_URL:
        yield None
        return
    engine = make_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    yield engine
    engine.dispose()


def _truncate_all(engine: Engine) -> None:
    names = ", ".join(table.name for table in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path, _postgres_engine) -> str:
    """URL of an empty, migrated billing database, on each backend in turn."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'billing.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        return url
    _truncate_all(_postgres_engine)
    return POSTGRES_URL


@pytest.fixture
def engine(db_url) -> Engine:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def billing_home(tmp_path, monkeypatch, db_url):
    """A fresh ``$BILLING_HOME`` (inbox, archive, quarantine …) bound to the test database."""
    home = tmp_path / "home"
    monkeypatch.setenv("BILLING_HOME", str(home))
    monkeypatch.setenv("BILLING_DATABASE_URL", db_url)
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    from billing.settings import billing_paths

    return billing_paths().ensure()


@pytest.fixture
def pinned_business_day(monkeypatch):
    """Makes "today" in the business time zone the tests' business date (``world.BUSINESS_DATE``)
    for tests that mix runs given that date with runs that default to today — the command line's
    follow-up re-aggregation, the sensors: otherwise the two stamp different processing dates and
    the test passes only on the day it was written. Patches every module that bound
    ``business_today`` at import; the command line reads it from ``billing.settings``."""
    import billing.settings
    import billing_assets.aggregation
    import sensors.bill_rebuilds
    import sensors.reaggregation
    from tests.world import BUSINESS_DATE

    for module in (billing.settings, billing_assets.aggregation, sensors.bill_rebuilds, sensors.reaggregation):
        monkeypatch.setattr(module, "business_today", lambda: BUSINESS_DATE)
    return BUSINESS_DATE

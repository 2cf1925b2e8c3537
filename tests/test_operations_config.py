"""batch_processing.yaml: shipped with the seed's values, found through BILLING_CONFIG or
$BILLING_HOME, and refused with the key path and what is allowed for every bad value."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from billing.db.engine import EngineSettings, make_engine
from billing.errors import BillingError
from billing.operations.config import SHIPPED, engine_settings, load_config


def test_the_shipped_file_holds_the_seed_values(tmp_path, monkeypatch):
    monkeypatch.delenv("BILLING_CONFIG", raising=False)
    config = load_config(tmp_path)  # no file in BILLING_HOME: the shipped one
    schedules = config.batch_schedules
    assert (schedules.account_validation.cron, schedules.account_validation.timezone,
            schedules.account_validation.max_runtime) == ("0 2 * * *", "America/Chicago", timedelta(hours=4))
    assert (schedules.invoice_generation.cron, schedules.invoice_generation.max_runtime) == (
        "0 1 1 * *", timedelta(hours=8))
    assert (schedules.data_synchronization.cron, schedules.data_synchronization.max_runtime) == (
        "15 * * * *", timedelta(minutes=30))
    assert config.resource_limits.concurrent_processes.max_parallel_batches == 3
    assert config.database_config.batch_connection_pool.max_connections == 20
    assert config.database_config.transaction_settings.isolation_level == "READ_COMMITTED"
    assert (config.error_handling.retry_configuration.max_retries,
            config.error_handling.retry_configuration.retry_delay) == (3, 300)
    assert config.error_handling.failure_thresholds.max_consecutive_failures == 5
    assert config.notifications.email_alerts.recipients == ["billing-admin@townepark.com",
                                                            "system-admin@townepark.com"]
    assert (config.monitoring.performance_thresholds.error_rate_warning,
            config.monitoring.performance_thresholds.error_rate_critical) == (5, 10)
    assert [r.role for r in config.security.batch_execution_permissions] == [
        "batch_administrator", "billing_administrator", "system_administrator"]


def _write(folder, edit) -> None:
    values = yaml.safe_load(SHIPPED.read_text())
    edit(values)
    (folder / "batch_processing.yaml").write_text(yaml.safe_dump(values))


def test_billing_home_then_billing_config_are_used(tmp_path, monkeypatch):
    monkeypatch.delenv("BILLING_CONFIG", raising=False)
    _write(tmp_path, lambda v: v["resource_limits"]["concurrent_processes"].update(max_parallel_batches=2))
    assert load_config(tmp_path).resource_limits.concurrent_processes.max_parallel_batches == 2
    other = tmp_path / "ops"
    other.mkdir()
    _write(other, lambda v: v["resource_limits"]["concurrent_processes"].update(max_parallel_batches=7))
    monkeypatch.setenv("BILLING_CONFIG", str(other / "batch_processing.yaml"))
    assert load_config(tmp_path).resource_limits.concurrent_processes.max_parallel_batches == 7
    monkeypatch.setenv("BILLING_CONFIG", str(other / "typo.yaml"))
    with pytest.raises(BillingError, match="typo.yaml does not exist"):
        load_config(tmp_path)


BAD_VALUES = [
    (lambda v: v["batch_schedules"]["account_validation"].update(start_time="25:00"),
     "batch_schedules.account_validation.start_time: '25:00' is not a time HH:MM (00:00 to 23:59)"),
    (lambda v: v["batch_schedules"]["account_validation"].update(timezone="Mars/Olympus"),
     "batch_schedules.account_validation.timezone: 'Mars/Olympus' is not an IANA time zone"),
    (lambda v: v["batch_schedules"]["data_synchronization"].update(max_duration="forever"),
     "batch_schedules.data_synchronization.max_duration: 'forever' is not a duration such as '30 minutes'"),
    (lambda v: v["batch_schedules"]["invoice_generation"].update(start_day="31"),
     "batch_schedules.invoice_generation.start_day: Input should be less than or equal to 28"),
    (lambda v: v["batch_schedules"]["invoice_generation"].pop("start_day"),
     "batch_schedules.invoice_generation: start_day (1 to 28) is given for a monthly batch, and only for one"),
    (lambda v: v["resource_limits"]["concurrent_processes"].update(max_parallel_batches=0),
     "resource_limits.concurrent_processes.max_parallel_batches: Input should be greater than or equal to 1"),
    (lambda v: v["resource_limits"]["cpu_allocation"].update(data_sync="lots"),
     "resource_limits.cpu_allocation: data_sync: 'lots' is not a number of cores such as '4 cores'"),
    (lambda v: v["database_config"]["transaction_settings"].update(isolation_level="DIRTY"),
     "database_config.transaction_settings.isolation_level: Input should be 'READ_UNCOMMITTED', 'READ_COMMITTED', "
     "'REPEATABLE_READ' or 'SERIALIZABLE'"),
    (lambda v: v["database_config"]["batch_connection_pool"].update(min_connections=30),
     "database_config.batch_connection_pool: min_connections may not exceed max_connections"),
    (lambda v: v["error_handling"].update(retry_configuratoin=v["error_handling"].pop("retry_configuration")),
     "error_handling.retry_configuration: is missing; error_handling.retry_configuratoin: is not a key of this "
     "section (check its spelling)"),
    (lambda v: v["notifications"]["email_alerts"].update(recipients=["ops at bank"]),
     "notifications.email_alerts.recipients: 'ops at bank' is not an e-mail address"),
    (lambda v: v["monitoring"]["performance_thresholds"].update(error_rate_warning=12),
     "monitoring.performance_thresholds: error_rate_warning must be below error_rate_critical"),
    (lambda v: v["logging"]["log_levels"].update(batch_execution="LOUD"),
     "logging.log_levels.batch_execution: Input should be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"),
    (lambda v: v["security"]["batch_execution_permissions"][0].update(permissions=["execute", "sudo"]),
     "security.batch_execution_permissions.0.permissions.1: Input should be 'execute', 'monitor', 'configure' or "
     "'debug'"),
    (lambda v: v.pop("monitoring"), "monitoring: is missing"),
]


@pytest.mark.parametrize("edit, message", BAD_VALUES)
def test_a_bad_value_is_refused_with_its_key_path_and_what_is_allowed(tmp_path, monkeypatch, edit, message):
    monkeypatch.delenv("BILLING_CONFIG", raising=False)
    _write(tmp_path, edit)
    with pytest.raises(BillingError) as refused:
        load_config(tmp_path)
    assert message in str(refused.value)
    assert str(refused.value).startswith(f"{tmp_path / 'batch_processing.yaml'}: ")
    assert str(refused.value).endswith("Fix the file; nothing ran with it.")


def test_the_database_settings_reach_the_engine(db_url, tmp_path, monkeypatch):
    monkeypatch.delenv("BILLING_CONFIG", raising=False)
    _write(tmp_path, lambda v: v["database_config"]["transaction_settings"].update(timeout=90,
                                                                                   isolation_level="SERIALIZABLE"))
    settings = engine_settings(load_config(tmp_path))
    assert settings == EngineSettings(pool_size=5, max_overflow=15, pool_timeout_s=30, pool_recycle_s=300,
                                      isolation_level="SERIALIZABLE", statement_timeout_s=90)
    engine = make_engine(db_url, settings)
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "90s"
                assert conn.exec_driver_sql("SHOW transaction_isolation").scalar() == "serializable"
                # the set-based steps' memory for sorts, hashes and scratch tables
                assert conn.exec_driver_sql("SHOW work_mem").scalar() == "64MB"
                assert conn.exec_driver_sql("SHOW temp_buffers").scalar() == "256MB"
                assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
                assert conn.exec_driver_sql("SHOW default_statistics_target").scalar() == "10"
                assert (engine.pool.size(), engine.pool._max_overflow, engine.pool._timeout) == (5, 15, 30)
            else:  # one writer, no server: SQLite keeps its own settings
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 60_000
    finally:
        engine.dispose()

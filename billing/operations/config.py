"""The batch processing configuration (DESIGN §8; seed batch_processing_configuration.md).

``batch_processing.yaml`` keeps the seed's structure and ships with its values
(``billing/operations/batch_processing.yaml``). The file used is the one ``BILLING_CONFIG``
names, else ``$BILLING_HOME/batch_processing.yaml`` when there is one, else the shipped one.
It is validated whole when loaded: a bad value is refused with its key path and what is
allowed, before anything runs with it.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from billing.db.engine import EngineSettings
from billing.errors import BillingError
from billing.settings import billing_home

CONFIG_FILE = "batch_processing.yaml"
SHIPPED = Path(__file__).with_name(CONFIG_FILE)
_TIME = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_DURATION = re.compile(r"([0-9]+) (minute|minutes|hour|hours)")
_CORES = re.compile(r"([1-9][0-9]*) cores?")
_MEMORY = re.compile(r"([1-9][0-9]*) (MB|GB)")
_WINDOW = re.compile(rf"{_TIME.pattern}-{_TIME.pattern}")


def _matching(pattern: re.Pattern, value: str, what: str) -> str:
    """``value`` when ``pattern`` matches all of it; else a ValueError saying what it should be."""
    if not pattern.fullmatch(value):
        raise ValueError(f"'{value}' is not {what}")
    return value


def _each_matching(pattern: re.Pattern, values: dict[str, str], what: str) -> dict[str, str]:
    """Every value of ``values`` matching ``pattern``; the error names the key."""
    for key, value in values.items():
        try:
            _matching(pattern, value, what)
        except ValueError as error:
            raise ValueError(f"{key}: {error}") from None
    return values


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatchSchedule(_Section):
    frequency: Literal["hourly", "daily", "weekly", "monthly"]
    start_time: str = Field(description="HH:MM; for an hourly batch, its minute past each hour")
    start_day: int | None = Field(None, ge=1, le=28, description="day of the month of a monthly batch (1–28)")
    timezone: str
    max_duration: str = Field(description="'N minutes' or 'N hours'")

    @field_validator("start_time")
    @classmethod
    def _time(cls, value: str) -> str:
        return _matching(_TIME, value, "a time HH:MM (00:00 to 23:59)")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. America/Chicago)") from None
        return value

    @field_validator("max_duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        found = _DURATION.fullmatch(value)
        if not found or int(found.group(1)) == 0:
            raise ValueError(f"'{value}' is not a duration such as '30 minutes' or '4 hours'")
        return value

    @model_validator(mode="after")
    def _monthly_day(self) -> "BatchSchedule":
        if (self.frequency == "monthly") != (self.start_day is not None):
            raise ValueError("start_day (1 to 28) is given for a monthly batch, and only for one")
        return self

    @property
    def hour(self) -> int:
        return int(self.start_time[:2])

    @property
    def minute(self) -> int:
        return int(self.start_time[3:])

    @property
    def max_runtime(self) -> timedelta:
        count, unit = _DURATION.fullmatch(self.max_duration).groups()
        return timedelta(hours=int(count)) if unit.startswith("hour") else timedelta(minutes=int(count))

    @property
    def cron(self) -> str:
        """The schedule as cron, in its own time zone."""
        return {
            "hourly": f"{self.minute} * * * *",
            "daily": f"{self.minute} {self.hour} * * *",
            "weekly": f"{self.minute} {self.hour} * * 1",
            "monthly": f"{self.minute} {self.hour} {self.start_day} * *",
        }[self.frequency]


NIGHTLY_CLOSE_OF_DAY = BatchSchedule(frequency="daily", start_time="00:30", timezone="America/Chicago",
                                     max_duration="2 hours")


class BatchSchedules(_Section):
    account_validation: BatchSchedule
    invoice_generation: BatchSchedule
    data_synchronization: BatchSchedule
    # Not in the seed: the nightly close of day. It closes the day just ended before the
    # invoice generation of the 1st (01:00) bills the month that day ended.
    close_of_day: BatchSchedule = NIGHTLY_CLOSE_OF_DAY


class ConcurrentProcesses(_Section):
    max_parallel_batches: int = Field(ge=1)
    max_threads_per_batch: int = Field(ge=1)
    queue_size: int = Field(ge=1)


class ResourceLimits(_Section):
    cpu_allocation: dict[str, str]
    memory_allocation: dict[str, str]
    concurrent_processes: ConcurrentProcesses

    @field_validator("cpu_allocation")
    @classmethod
    def _cores(cls, value: dict[str, str]) -> dict[str, str]:
        return _each_matching(_CORES, value, "a number of cores such as '4 cores'")

    @field_validator("memory_allocation")
    @classmethod
    def _memory(cls, value: dict[str, str]) -> dict[str, str]:
        return _each_matching(_MEMORY, value, "an amount of memory such as '8 GB' or '512 MB'")


class ConnectionPool(_Section):
    min_connections: int = Field(ge=0)
    max_connections: int = Field(ge=1)
    connection_timeout: int = Field(ge=1, description="seconds")
    idle_timeout: int = Field(ge=1, description="seconds")

    @model_validator(mode="after")
    def _order(self) -> "ConnectionPool":
        if self.min_connections > self.max_connections:
            raise ValueError("min_connections may not exceed max_connections")
        return self


class TransactionSettings(_Section):
    isolation_level: Literal["READ_UNCOMMITTED", "READ_COMMITTED", "REPEATABLE_READ", "SERIALIZABLE"]
    timeout: int = Field(ge=1, description="seconds: the statement timeout")
    batch_size: int = Field(ge=1)
    commit_frequency: int = Field(ge=1)


class DatabaseConfig(_Section):
    batch_connection_pool: ConnectionPool
    transaction_settings: TransactionSettings


class QueryOptimization(_Section):
    enable_parallel_queries: bool
    max_degree_of_parallelism: int = Field(ge=1)
    query_timeout: int = Field(ge=1)


class IndexingStrategy(_Section):
    rebuild_indexes: Literal["daily", "weekly", "monthly", "never"]
    update_statistics: Literal["daily", "weekly", "monthly", "never"]
    maintenance_window: str

    @field_validator("maintenance_window")
    @classmethod
    def _window(cls, value: str) -> str:
        return _matching(_WINDOW, value, "a window HH:MM-HH:MM")


class PerformanceSettings(_Section):
    query_optimization: QueryOptimization
    indexing_strategy: IndexingStrategy


class RetryConfiguration(_Section):
    max_retries: int = Field(ge=0)
    retry_delay: int = Field(ge=0, description="seconds")
    exponential_backoff: bool


class FailureThresholds(_Section):
    max_consecutive_failures: int = Field(ge=1)
    failure_rate_threshold: float = Field(gt=0, le=100, description="percent")
    circuit_breaker_timeout: int = Field(ge=0, description="seconds")


class ErrorHandling(_Section):
    retry_configuration: RetryConfiguration
    failure_thresholds: FailureThresholds


class EmailAlerts(_Section):
    enabled: bool
    recipients: list[str]

    @field_validator("recipients")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+", address):
                raise ValueError(f"'{address}' is not an e-mail address")
        return value


class AlertConditions(_Section):
    batch_failure: bool
    performance_degradation: bool
    data_quality_issues: bool
    resource_exhaustion: bool


class Notifications(_Section):
    email_alerts: EmailAlerts
    alert_conditions: AlertConditions


class MetricsCollection(_Section):
    enabled: bool
    collection_interval: int = Field(ge=1, description="seconds")
    retention_period: int = Field(ge=1, description="days")


class PerformanceThresholds(_Section):
    execution_time_warning: int = Field(ge=1, description="minutes")
    execution_time_critical: int = Field(ge=1, description="minutes")
    error_rate_warning: float = Field(ge=0, le=100, description="percent")
    error_rate_critical: float = Field(ge=0, le=100, description="percent")

    @model_validator(mode="after")
    def _warning_first(self) -> "PerformanceThresholds":
        if self.execution_time_warning >= self.execution_time_critical:
            raise ValueError("execution_time_warning must be below execution_time_critical")
        if self.error_rate_warning >= self.error_rate_critical:
            raise ValueError("error_rate_warning must be below error_rate_critical")
        return self


class Monitoring(_Section):
    metrics_collection: MetricsCollection
    performance_thresholds: PerformanceThresholds


_LEVEL = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class LogLevels(_Section):
    batch_execution: _LEVEL
    error_handling: _LEVEL
    performance_metrics: _LEVEL


class FileLogging(_Section):
    enabled: bool
    log_directory: str
    rotation_policy: Literal["daily", "weekly", "size"]
    retention_days: int = Field(ge=1)


class DatabaseLogging(_Section):
    enabled: bool
    log_table: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    performance_table: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")


class LogDestinations(_Section):
    file_logging: FileLogging
    database_logging: DatabaseLogging


class Logging(_Section):
    log_levels: LogLevels
    log_destinations: LogDestinations


class RolePermissions(_Section):
    role: str = Field(min_length=1)
    permissions: list[Literal["execute", "monitor", "configure", "debug"]]


class Security(_Section):
    batch_execution_permissions: list[RolePermissions]


class Encryption(_Section):
    data_at_rest: bool
    data_in_transit: bool
    key_rotation_period: int = Field(ge=1, description="days")


class AuditLogging(_Section):
    enabled: bool
    audit_events: list[Literal["batch_execution_start", "batch_execution_end", "configuration_changes",
                               "access_attempts"]]


class DataSecurity(_Section):
    encryption: Encryption
    audit_logging: AuditLogging


class BatchProcessingConfig(_Section):
    batch_schedules: BatchSchedules
    resource_limits: ResourceLimits
    database_config: DatabaseConfig
    performance_settings: PerformanceSettings | None = None
    error_handling: ErrorHandling
    notifications: Notifications
    monitoring: Monitoring
    logging: Logging
    security: Security
    data_security: DataSecurity | None = None


def config_path(home: Path) -> Path:
    """``BILLING_CONFIG``, else ``$BILLING_HOME/batch_processing.yaml`` if present, else the shipped file."""
    named = os.environ.get("BILLING_CONFIG")
    if named:
        return Path(named)
    local = home / CONFIG_FILE
    return local if local.exists() else SHIPPED


def load_config(home: Path) -> BatchProcessingConfig:
    """The configuration in force; BillingError names the file, each bad key and what is allowed."""
    path = config_path(home)
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BillingError(f"{path} does not exist (BILLING_CONFIG names it): fix the variable or the path") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise BillingError(f"{path} cannot be read as YAML ({error}); fix the file") from None
    try:
        return BatchProcessingConfig.model_validate(values or {})
    except ValidationError as error:
        problems = "; ".join(_problem(problem) for problem in error.errors())
        raise BillingError(f"{path}: {problems}. Fix the file; nothing ran with it.") from None


def engine_settings(config: BatchProcessingConfig) -> EngineSettings:
    """``database_config`` as engine settings: the pool holds min_connections and grows to
    max_connections, waits connection_timeout seconds for a connection (and for the server),
    recycles connections older than idle_timeout; sessions run at isolation_level with
    transaction_settings.timeout as their statement timeout."""
    pool = config.database_config.batch_connection_pool
    transactions = config.database_config.transaction_settings
    size = max(pool.min_connections, 1)
    return EngineSettings(
        pool_size=size, max_overflow=pool.max_connections - size, pool_timeout_s=pool.connection_timeout,
        pool_recycle_s=pool.idle_timeout, isolation_level=transactions.isolation_level.replace("_", " "),
        statement_timeout_s=transactions.timeout,
    )


def configured_engine_settings() -> EngineSettings:
    """The engine settings of the configuration in force (``$BILLING_HOME`` or ``BILLING_CONFIG``)."""
    return engine_settings(load_config(billing_home()))


def _problem(problem: dict) -> str:
    where = ".".join(str(part) for part in problem["loc"]) or "(top level)"
    message = problem["msg"].removeprefix("Value error, ")
    if problem["type"] == "extra_forbidden":
        message = "is not a key of this section (check its spelling)"
    elif problem["type"] == "missing":
        message = "is missing"
    return f"{where}: {message}"

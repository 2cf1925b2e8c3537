"""The production Dagster instance (``dagster.yaml``) from batch_processing.yaml.

``deploy/dagster.yaml`` is this text for the shipped configuration (a test keeps the two
equal); `billing instance-config` writes it for the configuration in force. It holds:

- run and event storage in PostgreSQL (``DAGSTER_PG_URL``, a ``postgresql+psycopg2://`` URL);
- the run queue (QueuedRunCoordinator) running at most ``max_parallel_batches`` runs at once,
  and one run per partition at a time — a feed's aggregation, re-aggregation and cancellation
  never overlap — and one run at a time of the jobs tagged ``billing/serial`` with the same
  value (the close of day, the invoice generation and bill rebuilds: ``business-days``);
- every concurrency pool limited to one step at a time, so the charge-writing steps
  (pool ``billing_charges``) are serialised across runs;
- run monitoring, which stops a run that is over its ``dagster/max_runtime`` tag (the batch's
  ``max_duration``), checking every ``metrics_collection.collection_interval`` seconds;
- the runs' event logs at ``log_levels.batch_execution`` and up, also written to
  ``<log_directory>/dagster-runs.log`` when ``file_logging`` is enabled, rotated as
  ``rotation_policy`` says and kept ``retention_days`` (the directory must exist, writable by
  the daemon's run workers).
"""

from __future__ import annotations

import yaml

from billing.operations.config import BatchProcessingConfig

HEADER = """\
# The production Dagster instance, generated from batch_processing.yaml by
# `billing instance-config` (billing/operations/instance.py): change that file and regenerate
# rather than editing this one. Put it in $DAGSTER_HOME of the webserver, the daemon and the
# code server, and set DAGSTER_PG_URL (postgresql+psycopg2://USER:PASSWORD@HOST:5432/dagster).
"""


def instance_settings(config: BatchProcessingConfig) -> dict:
    """The dagster.yaml settings, as a mapping."""
    return {
        "storage": {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}},
        "run_coordinator": {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"},
        "concurrency": {
            "runs": {
                "max_concurrent_runs": config.resource_limits.concurrent_processes.max_parallel_batches,
                "tag_concurrency_limits": [
                    {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
                    {"key": "billing/serial", "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
                ],
            },
            "pools": {"default_limit": 1, "granularity": "op"},
        },
        "run_monitoring": {
            "enabled": True,
            "start_timeout_seconds": 180,
            "poll_interval_seconds": config.monitoring.metrics_collection.collection_interval,
            # A run killed hard (host restart, out of memory) gives its pool slots back.
            "free_slots_after_run_end_seconds": 300,
        },
        "python_logs": _python_logs(config),
        "telemetry": {"enabled": False},
    }


_ROTATION = {  # rotation_policy → the standard library handler that does it
    "daily": {"class": "logging.handlers.TimedRotatingFileHandler", "when": "midnight"},
    "weekly": {"class": "logging.handlers.TimedRotatingFileHandler", "when": "W0"},
    "size": {"class": "logging.handlers.RotatingFileHandler", "maxBytes": 100 * 1024 * 1024},
}


def _python_logs(config: BatchProcessingConfig) -> dict:
    level = config.logging.log_levels.batch_execution
    logs: dict = {"python_log_level": level}
    files = config.logging.log_destinations.file_logging
    if files.enabled:
        handler = {**_ROTATION[files.rotation_policy], "level": level,
                   "filename": f"{files.log_directory.rstrip('/')}/dagster-runs.log",
                   "backupCount": files.retention_days, "formatter": "batch"}
        logs["dagster_handler_config"] = {
            "handlers": {"batchFile": handler},
            "formatters": {"batch": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        }
    return logs


def instance_yaml(config: BatchProcessingConfig) -> str:
    return HEADER + yaml.safe_dump(instance_settings(config), sort_keys=False)

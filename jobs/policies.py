"""What batch_processing.yaml asks of every run, in Dagster's terms: the retry policy of
``error_handling.retry_configuration`` and the maximum run time of a batch schedule.

Definitions are built once when the code location loads: after changing the file, reload
the location (the UI's "Reload" button, or restart the code server).
"""

from dagster import Backoff, RetryPolicy

from billing.operations.config import BatchProcessingConfig, BatchSchedule

MAX_RUNTIME_TAG = "dagster/max_runtime"  # seconds; enforced by the daemon's run monitoring


def retry_policy(config: BatchProcessingConfig) -> RetryPolicy:
    """Each step is retried ``max_retries`` times after ``retry_delay`` seconds, doubling the wait
    when ``exponential_backoff`` (Dagster waits (2^attempt − 1) × delay: 300 s, 900 s, 2100 s).

    Only transient failures are retried — a database or SMTP server that went away. A refusal
    an operator has to act on (a bad feed, a day out of order) fails at once: those steps
    raise ``Failure(allow_retries=False)``."""
    retries = config.error_handling.retry_configuration
    return RetryPolicy(max_retries=retries.max_retries, delay=retries.retry_delay,
                       backoff=Backoff.EXPONENTIAL if retries.exponential_backoff else None)


def max_runtime_tags(batch: BatchSchedule) -> dict[str, str]:
    """The run tag that makes run monitoring stop a run after the batch's ``max_duration``."""
    return {MAX_RUNTIME_TAG: str(int(batch.max_runtime.total_seconds()))}

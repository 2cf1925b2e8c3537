"""Alerts to the operations team (``notifications`` of batch_processing.yaml).

An alert is about one thing — a failed run, a slow run, a run's failed data-quality checks,
an open circuit breaker — and its key says which, so it is recorded once in ``alert_log`` and
sent once, whichever sensor tick raises it again. It goes to ``email_alerts.recipients``
through the notifier: ``.eml`` files in ``$BILLING_HOME/outbox/alerts`` by default, SMTP
when ``BILLING_SMTP_HOST`` is set. A condition turned off in ``alert_conditions`` (or
``email_alerts.enabled: false``) raises nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.message import EmailMessage
from typing import Literal

from sqlalchemy import Engine, select

from billing.db.schema import alert_log
from billing.db.upsert import insert_new
from billing.notify import Notifier, send_once, text_message
from billing.operations.config import BatchProcessingConfig, PerformanceThresholds

Condition = Literal["batch_failure", "performance_degradation", "data_quality_issues", "resource_exhaustion"]
Severity = Literal["WARNING", "CRITICAL"]

# What a failure says when the machine ran out of something rather than the data being wrong.
_EXHAUSTION = re.compile(
    r"too many (clients|connections)|remaining connection slots|QueuePool limit|No space left on device|"
    r"disk full|could not extend file|out of memory|MemoryError|Cannot allocate memory|statement timeout|"
    r"canceling statement due to|database or disk is full",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Alert:
    key: str
    condition: Condition
    severity: Severity
    subject: str
    body: str


def failure_condition(message: str) -> Condition:
    """``resource_exhaustion`` when a failure reads like the machine or database ran out of
    connections, disk, memory or time; otherwise ``batch_failure``."""
    return "resource_exhaustion" if _EXHAUSTION.search(message) else "batch_failure"


def slow_run_alert(run_id: str, name: str, elapsed_s: float, thresholds: PerformanceThresholds,
                   still_running: bool) -> Alert | None:
    """The performance-degradation alert of the highest threshold a run's ``elapsed_s`` is over
    (execution_time_critical, else execution_time_warning), or None."""
    minutes = elapsed_s / 60
    for level, limit in (("CRITICAL", thresholds.execution_time_critical),
                         ("WARNING", thresholds.execution_time_warning)):
        if minutes > limit:
            state = "has been running for" if still_running else "ran for"
            return Alert(f"slow-{run_id}-{level}", "performance_degradation", level,
                         f"{name} {state} {minutes:.0f} minutes",
                         f"Run {run_id} of {name} {state} {minutes:.0f} minutes, over the {level.lower()} threshold of "
                         f"{limit} minutes (monitoring.performance_thresholds). Look at its step durations in the "
                         f"Dagster UI; run monitoring stops it at its batch's max_duration.")
    return None


def raise_alert(engine: Engine, config: BatchProcessingConfig, notifier: Notifier, alert: Alert) -> bool:
    """Record ``alert`` and send it, once; True when this call sent it."""
    email = config.notifications.email_alerts
    if not email.enabled or not getattr(config.notifications.alert_conditions, alert.condition):
        return False
    with engine.begin() as conn:
        insert_new(conn, alert_log, [{"alert_key": alert.key, "condition": alert.condition,
                                      "severity": alert.severity, "subject": alert.subject, "body": alert.body,
                                      "raised_at": datetime.now(timezone.utc)}])
    return send_alerts(engine, config, notifier, key=alert.key) == 1


def send_alerts(engine: Engine, config: BatchProcessingConfig, notifier: Notifier, key: str | None = None) -> int:
    """Send the recorded alerts not sent yet (or only ``key``), each claimed and recorded in its
    own transaction; how many were sent. A send that fails rolls its claim back and raises a
    BillingError saying what to fix: the alert goes out on a later call."""
    unsent = select(alert_log).where(alert_log.c.sent_at.is_(None)).order_by(alert_log.c.raised_at)
    if key is not None:
        unsent = unsent.where(alert_log.c.alert_key == key)
    with engine.connect() as conn:
        pending = conn.execute(unsent).all()
    sent = 0
    for row in pending:
        if not send_once(engine, alert_log, "alert_key", row.alert_key, notifier,
                         _message(row, config.notifications.email_alerts.recipients), f"alert-{_safe(row.alert_key)}",
                         lambda error, row=row: (
                             f"sending alert '{row.subject}' through {notifier.transport} failed ({error}). Fix the "
                             f"mail server (BILLING_SMTP_*); the alert goes out on the next tick.")):
            continue
        sent += 1
    return sent


def _message(row, recipients: list[str]) -> EmailMessage:
    message = text_message(f"[billing {row.severity}] {row.subject}", ", ".join(recipients),
                           f"alert.{_safe(row.alert_key)}", row.body)
    message["X-Billing-Alert"] = row.condition
    return message


def _safe(key: str) -> str:
    """``key`` as a file name and Message-ID part."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", key)

"""The audit trail (``data_security.audit_logging``): who ran which command and with what
outcome, refused attempts included, and each change of the batch configuration file in force.
Appended to, never updated; reference data loads are commands like any other (their counts
stay in ``reference_load``). Batch executions are in ``batch_execution_log``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Connection, insert, select

from billing.db.schema import audit_log
from billing.operations.config import BatchProcessingConfig

CONFIGURATION_CHANGE = "configuration_changes"
ACCESS_ATTEMPT = "access_attempts"
OPERATOR_COMMAND = "operator_command"
SELECTABLE = (CONFIGURATION_CHANGE, ACCESS_ATTEMPT)  # audit_events that turn these on and off


def record(conn: Connection, config: BatchProcessingConfig, actor: str, role: str | None, event: str, subject: str,
           outcome: str, detail: str | None = None) -> bool:
    """Append one entry, unless audit logging is off or the event is one of the seed's
    ``audit_events`` left out of the list; True when written. Operator commands are always
    recorded while audit logging is on (the seed's list has no entry for them)."""
    audit = config.data_security.audit_logging if config.data_security else None
    if audit is None or not audit.enabled:
        return False
    if event in SELECTABLE and event not in audit.audit_events:
        return False
    conn.execute(insert(audit_log).values(at=datetime.now(timezone.utc), actor=actor, role=role, event=event,
                                          subject=subject, outcome=outcome, detail=detail))
    return True


def note_configuration(conn: Connection, config: BatchProcessingConfig, path: Path, actor: str) -> bool:
    """Record the configuration file in force when its content differs from the last one
    recorded (the first time too); True when recorded."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    last = conn.execute(select(audit_log.c.detail).where(audit_log.c.event == CONFIGURATION_CHANGE)
                        .order_by(audit_log.c.audit_id.desc()).limit(1)).scalar()
    if last == f"sha256 {digest}":
        return False
    return record(conn, config, actor, None, CONFIGURATION_CHANGE, str(path), "IN_FORCE", f"sha256 {digest}")

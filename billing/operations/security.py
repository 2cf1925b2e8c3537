"""The ``security`` roles of batch_processing.yaml, as the command line enforces them.

``BILLING_ROLE`` names the role of whoever runs ``billing``; each command needs one
permission: ``monitor`` to look (status, previews), ``execute`` to run or correct batches,
``configure`` to change what batches run with (the database, reference data, grace dates, the
Dagster instance). A refused command changes nothing, exits with code 2 and is audited as an
access attempt. Without ``BILLING_ROLE`` — a single-user installation, the embedded default —
nothing is refused. This is the operator's tool, not a security boundary: production also
gives each role its own database grants, and the Dagster UI is protected as the README says
(a read-only webserver for monitor-only roles).
"""

from __future__ import annotations

import os

from billing.errors import BillingError
from billing.operations.config import BatchProcessingConfig

ROLE_VARIABLE = "BILLING_ROLE"

# A command (or command group) → the permission it needs.
COMMAND_PERMISSIONS = {
    "status": "monitor",
    "invoice preview": "monitor",
    "breaker status": "monitor",
    "init": "configure",
    "reference load": "configure",
    "account grace": "configure",
    "instance-config": "configure",
    "feed submit": "execute",
    "feed process": "execute",
    "feed cancel": "execute",
    "rollback": "execute",
    "disaggregate": "execute",
    "closeofday": "execute",
    "adjust": "execute",
    "bill cancel": "execute",
    "payments load": "execute",
    "breaker reset": "execute",
    "demo": "execute",
}


class AccessRefused(BillingError):
    """The role in force lacks the command's permission."""


def required_permission(command: str) -> str:
    """The permission ``command`` (e.g. ``reference load``) needs; an unlisted one needs configure."""
    return COMMAND_PERMISSIONS.get(command, "configure")


def current_role() -> str | None:
    return os.environ.get(ROLE_VARIABLE) or None


def check_permission(config: BatchProcessingConfig, role: str | None, command: str) -> None:
    """Nothing when ``role`` (None: no roles in force) may run ``command``; else AccessRefused
    saying which roles may."""
    if role is None:
        return
    permission = required_permission(command)
    roles = {entry.role: entry.permissions for entry in config.security.batch_execution_permissions}
    if role not in roles:
        raise AccessRefused(f"{ROLE_VARIABLE}={role} is not a role of security.batch_execution_permissions "
                            f"({', '.join(roles)}): set one of them")
    if permission not in roles[role]:
        allowed = ", ".join(name for name, permissions in roles.items() if permission in permissions)
        raise AccessRefused(f"role {role} may not run `billing {command}`: it needs the {permission} permission, "
                            f"which {allowed} have")

"""How secrets reach the resources: as ``EnvVar``s, never as values.

A secret — the billing database URL (it may hold a password), the SMTP password, the
warehouse URL — is given to its resource as ``EnvVar(NAME)``: the UI's resource page, the run
config and the job snapshots show the variable's name, and each run reads the value from its
own environment when it initialises the resource. The value is never copied into the
definitions, so nothing that Dagster stores or displays can carry it.
"""

import os
from typing import Optional

from dagster import EnvVar


def secret_from_environment(variable: str) -> Optional[EnvVar]:
    """``EnvVar(variable)`` when the variable is set where the definitions load (production
    sets it for the webserver, the daemon and the code server alike); None when it is not,
    which leaves the resource to its embedded default (SQLite under ``$BILLING_HOME``, the
    outbox, no warehouse database) — an ``EnvVar`` of an unset variable would fail every run."""
    return EnvVar(variable) if os.environ.get(variable) else None

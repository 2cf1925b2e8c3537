"""Where documents and notices go, as a Dagster resource."""

from pathlib import Path
from typing import Optional

from dagster import ConfigurableResource
from pydantic import Field

from billing.notify import Notifier, notifier_from_environment


class DocumentNotifier(ConfigurableResource):
    """SMTP when ``smtp_host`` (or ``BILLING_SMTP_HOST``) is set; otherwise ``.eml`` files in
    ``$BILLING_HOME/outbox``. The other ``BILLING_SMTP_*`` settings come from the environment;
    the Definitions give the password as ``EnvVar("BILLING_SMTP_PASSWORD")`` when it is set
    (resources/secrets.py), so that the UI shows the variable, not the password."""

    smtp_host: Optional[str] = Field(default=None, description="SMTP server; unset: BILLING_SMTP_HOST, else the "
                                     "outbox folder")
    smtp_port: Optional[int] = Field(default=None, description="unset: BILLING_SMTP_PORT, else 25")
    smtp_password: Optional[str] = Field(default=None, repr=False, description=(
        "password of BILLING_SMTP_USER (give it as an EnvVar); unset: BILLING_SMTP_PASSWORD"))

    def notifier(self, outbox: Path) -> Notifier:
        return notifier_from_environment(outbox, self.smtp_host, self.smtp_port, self.smtp_password)

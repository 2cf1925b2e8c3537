"""Where documents and notices go, as a Dagster resource."""

from pathlib import Path
from typing import Optional

from dagster import ConfigurableResource

from billing.notify import Notifier, SmtpNotifier, notifier_from_environment


class DocumentNotifier(ConfigurableResource):
    """SMTP when ``smtp_host`` (or ``BILLING_SMTP_HOST``) is set; otherwise ``.eml`` files in
    ``$BILLING_HOME/outbox``."""

    smtp_host: Optional[str] = None
    smtp_port: int = 25

    def notifier(self, outbox: Path) -> Notifier:
        if self.smtp_host:
            return SmtpNotifier(self.smtp_host, self.smtp_port)
        return notifier_from_environment(outbox)

"""Sending documents and notices: e-mail through SMTP, or ``.eml`` files in the outbox.

The embedded default writes each message to ``$BILLING_HOME/outbox/NAME.eml`` (a mail client
opens them); production sets ``BILLING_SMTP_HOST`` (and port, user, password, sender) and
messages go through that server. Message-IDs are derived from the document, so a message
sent again after a crash carries the same id and can be recognised as a duplicate.
"""

from __future__ import annotations

import ipaddress
import os
import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from pathlib import Path
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Protocol

from sqlalchemy import Engine, Table, update

from billing.errors import BillingError

DEFAULT_SENDER = "billing@localhost"
SMTP_PASSWORD_ENV = "BILLING_SMTP_PASSWORD"


class Notifier(Protocol):
    transport: str

    def send(self, message: Message, name: str) -> None: ...


@dataclass(frozen=True)
class OutboxNotifier:
    """Writes ``NAME.eml`` into ``folder``; writing the same message again replaces it."""

    folder: Path
    transport: str = "outbox"

    def send(self, message: Message, name: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = self.folder / f".{name}.eml.partial"
        partial.write_bytes(bytes(message))
        partial.replace(self.folder / f"{name}.eml")


@dataclass(frozen=True)
class SmtpNotifier:
    """Sends each message through the SMTP server ``host``, logging in when ``username`` is
    set — over STARTTLS only, unless the server is on this machine (a plain login would send
    the password in clear), and STARTTLS a server does not offer fails the send rather than
    falling back. The password stays out of the notifier's repr, which error messages and
    logs may show."""

    host: str
    port: int = 25
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    transport: str = "smtp"

    def send(self, message: Message, name: str) -> None:
        if self.username and not self.starttls and not _loopback(self.host):
            raise smtplib.SMTPException(
                f"not logging in to the SMTP server {self.host} as {self.username} without STARTTLS: the password "
                "would cross the network in clear; set BILLING_SMTP_STARTTLS=Y (the server must offer it)")
        with smtplib.SMTP(self.host, self.port, timeout=60) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password or "")
            smtp.send_message(message)


def _loopback(host: str) -> bool:
    """The server runs on this machine (a local relay): a login to it never crosses a network."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def notifier_from_environment(outbox: Path, host: str | None = None, port: int | None = None,
                              password: str | None = None) -> Notifier:
    """SMTP when ``host`` is given or ``BILLING_SMTP_HOST`` is set, else the outbox folder.
    What is given wins over the ``BILLING_SMTP_*`` variables: the Dagster resource passes its
    configuration, where the password arrives from an ``EnvVar`` resolved in the run itself."""
    host = host or os.environ.get("BILLING_SMTP_HOST")
    if not host:
        return OutboxNotifier(outbox)
    return SmtpNotifier(
        host=host,
        port=port or int(os.environ.get("BILLING_SMTP_PORT", "25")),
        username=os.environ.get("BILLING_SMTP_USER") or None,
        password=password or os.environ.get(SMTP_PASSWORD_ENV) or None,
        starttls=os.environ.get("BILLING_SMTP_STARTTLS", "N").upper() in ("Y", "YES", "TRUE", "1"),
    )


def sender_address() -> str:
    return os.environ.get("BILLING_SMTP_FROM", DEFAULT_SENDER)


def text_message(subject: str, recipients: str, message_id: str, body: str) -> EmailMessage:
    """A plain-text message from the sender address; ``message_id`` is derived from what the
    message is about, so a message sent again is recognisable as the same one."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender_address()
    message["To"] = recipients
    message["Message-ID"] = f"<{message_id}@billing.local>"
    message.set_content(body)
    return message


def send_once(engine: Engine, table: Table, key_column: str, key: str, notifier: Notifier, message: Message,
              name: str, failed: Callable[[Exception], str]) -> bool:
    """Claim row ``key`` of ``table`` (its ``sent_at`` still empty: stamp it and the transport),
    send ``message``, and keep the claim only if the send succeeded: whichever run or tick gets
    there first sends it, once. False when the row was already claimed; a failed send is rolled
    back and raised as a BillingError with ``failed(error)``, saying what to fix."""
    with engine.begin() as conn:
        claimed = conn.execute(update(table).where(table.c[key_column] == key, table.c.sent_at.is_(None))
                               .values(sent_at=datetime.now(timezone.utc), transport=notifier.transport)).rowcount
        if not claimed:
            return False
        try:
            notifier.send(message, name)
        except (OSError, smtplib.SMTPException) as error:
            raise BillingError(failed(error)) from error
    return True

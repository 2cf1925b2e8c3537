"""A real SMTP server on loopback (aiosmtpd) that the platform is pointed at, as production
would be; it can refuse the first messages it is given, like a mail server having a bad minute."""

import socket
from email import message_from_bytes
from email.policy import default

import pytest
from aiosmtpd.controller import Controller


class Mailbox:
    """An aiosmtpd handler keeping every message the server accepts; the first ``refuse``
    messages get a temporary failure (451)."""

    def __init__(self, refuse: int = 0):
        self.messages = []
        self.refused = 0
        self.refuse = refuse

    async def handle_DATA(self, server, session, envelope):
        if self.refused < self.refuse:
            self.refused += 1
            return "451 Requested action aborted: local error in processing"
        self.messages.append(message_from_bytes(envelope.content, policy=default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(monkeypatch):
    """A real SMTP server on loopback; ``BILLING_SMTP_*`` point at it."""
    port = free_port()
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("BILLING_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("BILLING_SMTP_PORT", str(port))
    monkeypatch.setenv("BILLING_SMTP_FROM", "invoices@bank.example")
    yield mailbox
    controller.stop()

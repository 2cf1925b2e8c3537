"""A real SMTP server on loopback (aiosmtpd) that the platform is pointed at, as production
would be; it can refuse the first messages it is given, like a mail server having a bad minute."""

import socket
from contextlib import contextmanager
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


@contextmanager
def serving(mailbox: Mailbox, port: int):
    """A real SMTP server on 127.0.0.1:``port`` handing what it accepts to ``mailbox``, for the block."""
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


@pytest.fixture
def smtp_server(monkeypatch):
    """A real SMTP server on loopback; ``BILLING_SMTP_*`` point at it."""
    port = free_port()
    monkeypatch.setenv("BILLING_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("BILLING_SMTP_PORT", str(port))
    monkeypatch.setenv("BILLING_SMTP_FROM", "invoices@bank.example")
    with serving(Mailbox(), port) as mailbox:
        yield mailbox

"""A real SMTP server on loopback (aiosmtpd) that the platform is pointed at, as production
would be; it can refuse the first messages it is given, like a mail server having a bad minute,
and require a login, like a relay that takes mail only from its users."""

import socket
from contextlib import contextmanager
from email import message_from_bytes
from email.policy import default

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


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


def _only(login: str, password: str):
    """An aiosmtpd authenticator accepting ``login`` with ``password`` and nothing else."""
    def check(_server, _session, _envelope, _mechanism, auth_data) -> AuthResult:
        return AuthResult(success=isinstance(auth_data, LoginPassword) and auth_data.login == login.encode()
                          and auth_data.password == password.encode())
    return check


@contextmanager
def serving(mailbox: Mailbox, port: int, credentials: tuple[str, str] | None = None):
    """A real SMTP server on 127.0.0.1:``port`` handing what it accepts to ``mailbox``, for the
    block; with ``credentials`` (login, password) it takes mail only after that login (AUTH over
    plain SMTP: loopback only)."""
    auth = {} if credentials is None else {"auth_required": True, "auth_require_tls": False,
                                           "authenticator": _only(*credentials)}
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **auth)
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

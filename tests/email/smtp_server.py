"""A real SMTP server (aiosmtpd) on a free loopback port, for as long as a `with` block runs, and an inbox
that keeps what it takes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.live import free_port

USERNAME, PASSWORD = "twostep", "s3cret"  # what `authenticate` takes


class Inbox:
    """Each message's bytes as the server took them, and its recipients."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.recipients: list[list[str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.original_content)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"twostep", b"s3cret")
    return AuthResult(success=ok, handled=False)  # a refusal answered 535


@contextmanager
def smtp_server(handler: object, controller: type[Controller] = Controller, **options: Any) -> Iterator[int]:
    """Serves `handler` on 127.0.0.1 (`options` as aiosmtpd's Controller takes them) and yields its port."""
    port = free_port()
    server = controller(handler, hostname="127.0.0.1", port=port, **options)
    server.start()
    try:
        yield port
    finally:
        server.stop()

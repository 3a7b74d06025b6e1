"""The dev sink for email: keeps the whole message in the storage outbox (`twostep email outbox`).

Refused in prod by the settings model.
"""

from __future__ import annotations

import logging
import secrets

from twostep.domain.clock import Clock
from twostep.domain.models import OutboxEntry
from twostep.domain.ports import OutboxStore
from twostep.domain.provider_checks import CredentialAnswer
from twostep.settings import Settings
from twostep.sms import SenderDeps

logger = logging.getLogger("twostep.email.console")
PROVIDER = "email"  # the outbox entries' provider, so `email outbox` lists only email


class ConsoleEmailSender:
    name = "console"

    def __init__(self, outbox: OutboxStore, clock: Clock) -> None:
        self._outbox = outbox
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, deps: SenderDeps) -> ConsoleEmailSender:
        return cls(deps.outbox, deps.clock)

    def send(self, to: str, subject: str, body: str) -> str:
        text = f"Subject: {subject}\n\n{body}"
        self._outbox.add_outbox(
            OutboxEntry(to=to, body=text, sent_at=self._clock.now(), provider=PROVIDER, channel="email")
        )
        logger.info("email kept in the outbox", extra={"chars": len(text)})
        return "console-" + secrets.token_hex(8)

    def check_credentials(self) -> CredentialAnswer:
        """The outbox needs no credentials: always taken."""
        return CredentialAnswer(self.name, refused=False, detail="no credentials needed")

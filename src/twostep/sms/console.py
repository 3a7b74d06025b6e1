"""The dev sink: logs a masked line and keeps the whole message, with its channel, in the storage outbox.

It carries every channel (SMS, voice, WhatsApp): a voice call is kept as the text it would speak.
`twostep sms outbox` reads the outbox from another process. Refused in prod by the settings model.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

from twostep.domain.clock import Clock
from twostep.domain.delivery import OutgoingMessage
from twostep.domain.identity import mask_phone
from twostep.domain.models import OutboxEntry
from twostep.domain.ports import OutboxStore
from twostep.domain.provider_checks import CredentialAnswer

if TYPE_CHECKING:
    from twostep.settings import Settings
    from twostep.sms import SenderDeps

logger = logging.getLogger("twostep.sms.console")


class ConsoleSender:
    name = "console"

    def __init__(self, outbox: OutboxStore, clock: Clock) -> None:
        self._outbox = outbox
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, deps: SenderDeps) -> ConsoleSender:
        return cls(deps.outbox, deps.clock)

    def send(self, to: str, body: str) -> str:
        return self.send_message(OutgoingMessage(to, body))

    def send_message(self, message: OutgoingMessage) -> str:
        """Keep the message in the outbox under its channel; returns a local id."""
        entry = OutboxEntry(
            to=message.to,
            body=message.text,
            sent_at=self._clock.now(),
            provider=self.name,
            channel=message.channel,
        )
        self._outbox.add_outbox(entry)
        logger.info(
            "message kept in the outbox",
            extra={"to": mask_phone(message.to), "chars": len(message.text), "channel": message.channel},
        )
        return "console-" + secrets.token_hex(8)

    def check_credentials(self) -> CredentialAnswer:
        """The outbox needs no credentials: always taken."""
        return CredentialAnswer(self.name, refused=False, detail="no credentials needed")

"""The dev sink: logs a masked line and keeps the whole message in the storage outbox.

`twostep sms outbox` reads the outbox from another process. Refused in prod by the settings model.
"""

from __future__ import annotations

import logging
import secrets

from twostep.domain.clock import Clock
from twostep.domain.identity import mask_phone
from twostep.domain.models import OutboxEntry
from twostep.domain.ports import OutboxStore

logger = logging.getLogger("twostep.sms.console")


class ConsoleSender:
    name = "console"

    def __init__(self, outbox: OutboxStore, clock: Clock) -> None:
        self._outbox = outbox
        self._clock = clock

    def send(self, to: str, body: str) -> str:
        self._outbox.add_outbox(OutboxEntry(to=to, body=body, sent_at=self._clock.now(), provider=self.name))
        logger.info("sms kept in the outbox", extra={"to": mask_phone(to), "chars": len(body)})
        return "console-" + secrets.token_hex(8)

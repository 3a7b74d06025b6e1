"""Tries each configured sender in order until one takes the message."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from twostep.domain.errors import SmsDeliveryError
from twostep.domain.ports import SmsSender

logger = logging.getLogger("twostep.sms")


class FailoverSender:
    def __init__(self, senders: Sequence[SmsSender]) -> None:
        if not senders:
            raise ValueError("at least one sender is needed")
        self._senders = list(senders)
        self.name = "+".join(sender.name for sender in self._senders)

    def send(self, to: str, body: str) -> str:
        last_error: SmsDeliveryError | None = None
        for sender in self._senders:
            try:
                return sender.send(to, body)
            except SmsDeliveryError as exc:
                logger.warning("sms provider failed", extra={"provider": sender.name, "reason": exc.reason})
                last_error = exc
        assert last_error is not None
        raise SmsDeliveryError(last_error.reason, provider=self.name)

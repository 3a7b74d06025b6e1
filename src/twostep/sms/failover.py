"""The delivery policy for every configured provider, in one place.

Each provider is tried in the configured order. A failure the provider marks `retryable` (the request
never arrived, or a 5xx) is retried once on the same provider; anything else moves on to the next one
at once. Logs name the provider and the reason only: never the number, the text or a credential.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from twostep.domain.errors import SmsDeliveryError
from twostep.domain.ports import SmsSender
from twostep.domain.segments import count_segments

logger = logging.getLogger("twostep.sms")


class FailoverSender:
    def __init__(self, senders: Sequence[SmsSender]) -> None:
        if not senders:
            raise ValueError("at least one sender is needed")
        self._senders = list(senders)
        self.name = "+".join(sender.name for sender in self._senders)

    def send(self, to: str, body: str) -> str:
        """Deliver through the first provider that takes the message.

        Raises:
            SmsDeliveryError: every provider failed; `reason` is the last provider's reason.
        """
        warn_if_long(body)
        failures: list[SmsDeliveryError] = []
        for sender in self._senders:
            try:
                return send_with_one_retry(sender, to, body)
            except SmsDeliveryError as exc:
                failures.append(exc)
                logger.warning("sms provider failed", extra={"provider": sender.name, "reason": exc.reason})
        logger.error(
            "no sms provider took the message",
            extra={"providers": self.name, "reasons": ",".join(exc.reason for exc in failures)},
        )
        raise SmsDeliveryError(failures[-1].reason, provider=self.name)


def send_with_one_retry(sender: SmsSender, to: str, body: str) -> str:
    """`sender.send`, sent a second time only when the first failure is safe to retry.

    Raises:
        SmsDeliveryError: from the last attempt.
    """
    try:
        return sender.send(to, body)
    except SmsDeliveryError as exc:
        if not exc.retryable:
            raise
        logger.info("sms provider retried", extra={"provider": sender.name, "reason": exc.reason})
    return sender.send(to, body)


def warn_if_long(body: str) -> None:
    """Log (without the text) when a message takes more than one SMS segment."""
    segments = count_segments(body)
    if segments.count > 1:
        logger.warning(
            "sms longer than one segment",
            extra={"encoding": segments.encoding, "units": segments.units, "segments": segments.count},
        )

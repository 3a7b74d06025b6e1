"""The delivery policy for every configured provider, in one place.

Each provider is tried in the configured order. A failure the provider marks `retryable` (the request
never arrived, or a 5xx) is retried once on the same provider; anything else moves on to the next one
at once. A provider that answered with `Retry-After` (429, 503) is not asked again until that time has
passed: it is skipped, and when every provider is waiting the error carries the shortest wait, which
the API passes on as its own `Retry-After`.

A send that failed is one log line (the providers' own lines are DEBUG): `sms not sent` (ERROR) when
no provider took the message, `sms sent after a provider failed` (WARNING) when a later one did. It
names each provider's reason and what it answered (HTTP status, its error code, the error's type), a
hint for the operator and the masked number: never the number, the text or a credential.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from twostep.domain.clock import Clock, SystemClock
from twostep.domain.delivery import SMS, VOICE, ChannelSender, OutgoingMessage, SentMessage, send_with
from twostep.domain.errors import SmsDeliveryError
from twostep.domain.identity import mask_phone
from twostep.domain.ports import SmsSender
from twostep.domain.provider_checks import CredentialCheck
from twostep.domain.segments import count_segments

logger = logging.getLogger("twostep.sms")


Sender = SmsSender | ChannelSender
Send = Callable[[Sender], str]

# What an operator does about a reason, on the send's log line.
HINTS = {
    "auth": "check the provider's credentials",
    "sender_refused": "the credentials work, but the sender (From number, SMS id) is not usable with them",
    "throttled": "the provider asked to slow down; it is skipped until its Retry-After passes",
}


class FailoverSender:
    """The providers of one channel (SMS unless told), tried in order."""

    def __init__(self, senders: Sequence[Sender], clock: Clock | None = None, channel: str = SMS) -> None:
        if not senders:
            raise ValueError("at least one sender is needed")
        self._senders = list(senders)
        self.name = "+".join(sender.name for sender in self._senders)
        self.channel = channel
        self._clock = clock or SystemClock()
        self._paused: dict[str, datetime] = {}  # provider name -> asked us to wait until
        self._lock = threading.Lock()

    def credential_checks(self) -> list[CredentialCheck]:
        """The providers that can tell, without sending, whether they take our credentials (all built in)."""
        return [sender for sender in self._senders if isinstance(sender, CredentialCheck)]

    def send(self, to: str, body: str) -> str:
        """Deliver through the first provider that takes the message.

        Raises:
            SmsDeliveryError: every provider failed or is waiting; `reason` is the last provider's
                reason, `retry_after` the shortest wait a provider asked for.
        """
        return self.deliver(OutgoingMessage(to, body, self.channel)).message_id

    def send_expiring(self, to: str, body: str, valid_seconds: int) -> str:
        """`send`, telling providers that can (Twilio) to drop the text after `valid_seconds`."""
        return self.deliver(OutgoingMessage(to, body, self.channel, valid_seconds=valid_seconds)).message_id

    def deliver(self, message: OutgoingMessage) -> SentMessage:
        """`send` for a whole message; says which provider took it (and its id), for delivery receipts.

        Raises:
            SmsDeliveryError: as `send`.
        """
        if message.channel != VOICE:
            warn_if_long(message.text)
        failures: list[SmsDeliveryError] = []
        try:
            provider, message_id = self._deliver(lambda sender: send_with(sender, message), failures)
        except SmsDeliveryError:
            log_failed_send(logging.ERROR, "sms not sent", failures, message.to, self.channel)
            raise
        if failures:
            log_failed_send(
                logging.WARNING, "sms sent after a provider failed", failures, message.to, self.channel
            )
        return SentMessage(provider, message_id, message.channel)

    def _deliver(self, send: Send, failures: list[SmsDeliveryError]) -> tuple[str, str]:
        """The provider that took the message and its id; each failure before it added to `failures`."""
        for sender in self._senders:
            waiting = self._waiting(sender.name)
            if waiting is not None:
                failures.append(SmsDeliveryError("throttled", provider=sender.name, retry_after=waiting))
                continue
            try:
                return sender.name, send_with_one_retry(sender, send)
            except SmsDeliveryError as exc:
                failures.append(exc)
                self._pause(sender.name, exc.retry_after)
        waits = [exc.retry_after for exc in failures if exc.retry_after is not None]
        raise SmsDeliveryError(
            failures[-1].reason, provider=self.name, retry_after=min(waits) if waits else None
        )

    def _waiting(self, provider: str) -> int | None:
        """Seconds a provider still asked us to wait, or None."""
        now = self._clock.now()
        with self._lock:
            until = self._paused.get(provider)
            if until is None or until <= now:
                self._paused.pop(provider, None)
                return None
        return max(1, int((until - now).total_seconds() + 0.999))

    def _pause(self, provider: str, seconds: int | None) -> None:
        if seconds is not None:
            with self._lock:
                self._paused[provider] = self._clock.now() + timedelta(seconds=seconds)


def send_with_one_retry(sender: Sender, send: Send) -> str:
    """`send(sender)`, done a second time only when the first failure is safe to retry.

    Raises:
        SmsDeliveryError: from the last attempt.
    """
    try:
        return send(sender)
    except SmsDeliveryError as exc:
        if not exc.retryable:
            raise
        logger.debug("sms provider retried", extra={"provider": sender.name, "reason": exc.reason})
    return send(sender)


def log_failed_send(
    level: int, what: str, failures: Sequence[SmsDeliveryError], to: str, channel: str
) -> None:
    """The send's one line: each failed provider's reason and answer, the first hint, the masked number."""
    last = failures[-1]
    hint = next((HINTS[exc.reason] for exc in failures if exc.reason in HINTS), None)
    logger.log(
        level,
        what,
        extra={
            "code": SmsDeliveryError.code,
            "provider": ",".join(exc.provider for exc in failures),
            "reason": last.reason,
            "failures": "; ".join(describe_failure(exc) for exc in failures),
            "hint": hint,
            "to": mask_phone(to),
            "channel": channel,
        },
    )


def describe_failure(exc: SmsDeliveryError) -> str:
    """`twilio: auth (status 401, provider_code 20003)`: a provider's reason and what it answered."""
    facts = {**exc.facts, "retry_after": exc.retry_after}
    answered = ", ".join(f"{name} {value}" for name, value in facts.items() if value is not None)
    return f"{exc.provider}: {exc.reason}" + (f" ({answered})" if answered else "")


def warn_if_long(body: str) -> None:
    """Log (without the text) when a message takes more than one SMS segment."""
    segments = count_segments(body)
    if segments.count > 1:
        logger.warning(
            "sms longer than one segment",
            extra={"encoding": segments.encoding, "units": segments.units, "segments": segments.count},
        )

"""Readiness's question to the SMS and the email providers: does each kind still take our credentials?

A rotated Twilio token or a mistyped Flowroute secret failed every sign-in's text, a wrong SES key or SMTP
password every emailed code, while the probes stayed green. Each configured provider is asked by a read
that sends nothing (`CredentialCheck`); the service is not ready when every provider of one kind (`Kind`:
the SMS providers, the email provider) refuses its credentials (401/403, SMTP 535), since that kind's
flows all fail: the refusal names the kind (`sms_credentials_refused`, `email_credentials_refused`; SMS
first when both). A timeout, a lost connection or a 5xx is the provider's trouble, not the operator's
credentials: failover and retries cover it, so it never takes the service out of rotation.

The verdict is kept (a pass for a minute, a refusal for 10 s, so a fixed secret shows soon), so a
probe polled every second does not reach the providers. One check runs at a time, in a thread of its
own; the probe that starts it waits at most `wait_seconds` for it, and probes that arrive meanwhile
answer with the last verdict at once (ready when there is none): a slow provider holds one probe at most.
Both kinds are asked in the same check, so a probe waits for one check, not one per kind.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from twostep.domain.clock import Clock
from twostep.domain.errors import CredentialsRefused, EmailCredentialsRefused, SmsCredentialsRefused
from twostep.domain.provider_checks import CredentialAnswer, CredentialCheck

logger = logging.getLogger("twostep.health")

PASS_KEPT = timedelta(seconds=60)
REFUSAL_KEPT = timedelta(seconds=10)
WAIT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Kind:
    """The providers of one kind (all the SMS providers, the email provider) and the refusal that says
    every one of them refused: one that takes its credentials is enough for that kind's flows."""

    checks: Sequence[CredentialCheck]
    refusal: Callable[[str], CredentialsRefused]

    @classmethod
    def sms(cls, checks: Sequence[CredentialCheck]) -> Kind:
        return cls(list(checks), SmsCredentialsRefused)

    @classmethod
    def email(cls, checks: Sequence[CredentialCheck]) -> Kind:
        return cls(list(checks), EmailCredentialsRefused)


class CredentialWatch:
    def __init__(
        self,
        kinds: Sequence[Kind],
        clock: Clock,
        *,
        wait_seconds: float = WAIT_SECONDS,
    ) -> None:
        self._kinds = [kind for kind in kinds if kind.checks]
        self._clock = clock
        self._wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._verdict: tuple[datetime, CredentialsRefused | None] | None = None
        self._running: threading.Event | None = None  # set when the check in flight is done

    def refusal(self) -> CredentialsRefused | None:
        """The refusal of every provider's credentials of a kind (the first such kind), or None while each
        kind has one that takes them (or did not answer: not known to be refused)."""
        if not self._kinds:
            return None
        with self._lock:
            if self._fresh() or self._running is not None:
                # A check in flight is waited for by the probe that started it alone: probes flooding in
                # meanwhile each held a worker thread for `wait_seconds`, the threads every sign-in needs.
                return self._last()
            done = self._running = threading.Event()
            threading.Thread(target=self._check, args=(done,), name="credential-check", daemon=True).start()
        done.wait(self._wait_seconds)
        with self._lock:
            return self._last()

    def _fresh(self) -> bool:
        if self._verdict is None:
            return False
        kept = PASS_KEPT if self._verdict[1] is None else REFUSAL_KEPT
        return self._clock.now() - self._verdict[0] < kept

    def _last(self) -> CredentialsRefused | None:
        return None if self._verdict is None else self._verdict[1]

    def _check(self, done: threading.Event) -> None:
        try:
            verdict = next(filter(None, [verdict_of(kind) for kind in self._kinds]), None)  # every kind asked
            with self._lock:
                self._verdict = (self._clock.now(), verdict)
        finally:
            with self._lock:
                self._running = None
            done.set()


def ask(check: CredentialCheck) -> CredentialAnswer:
    """One provider's answer; a bug in its check counts as no answer (logged), never as a refusal."""
    try:
        return check.check_credentials()
    except Exception as exc:  # a check must not take the service out of rotation by its own fault
        logger.warning("credential check failed", extra={"provider": check.name, "error": type(exc).__name__})
        return CredentialAnswer.unanswered(check.name, type(exc).__name__)


def verdict_of(kind: Kind) -> CredentialsRefused | None:
    """The kind's refusal naming each provider and its answer when all of them refused; else None."""
    answers = [ask(check) for check in kind.checks]
    if not answers or not all(answer.refused for answer in answers):
        return None
    return kind.refusal("; ".join(f"{answer.provider}: {answer.detail}" for answer in answers))

"""Readiness's question to the SMS providers: does at least one still take our credentials?

A rotated Twilio token or a mistyped Flowroute secret failed every sign-in's text while the probes
stayed green. Each configured provider is asked by a read that sends nothing (`CredentialCheck`); the
service is not ready only when every one of them refuses its credentials (401/403). A timeout, a lost
connection or a 5xx is the provider's trouble, not the operator's credentials: failover covers it, so
it never takes the service out of rotation.

The verdict is kept (a pass for a minute, a refusal for 10 s, so a fixed secret shows soon), so a
probe polled every second does not reach the providers. One check runs at a time, in a thread of its
own; the probe that starts it waits at most `wait_seconds` for it, and probes that arrive meanwhile
answer with the last verdict at once (ready when there is none): a slow provider holds one probe at most.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

from twostep.domain.clock import Clock
from twostep.domain.errors import SmsCredentialsRefused
from twostep.domain.provider_checks import CredentialAnswer, CredentialCheck

logger = logging.getLogger("twostep.sms")

PASS_KEPT = timedelta(seconds=60)
REFUSAL_KEPT = timedelta(seconds=10)
WAIT_SECONDS = 2.0


class CredentialWatch:
    def __init__(
        self,
        checks: Sequence[CredentialCheck],
        clock: Clock,
        *,
        wait_seconds: float = WAIT_SECONDS,
    ) -> None:
        self._checks = list(checks)
        self._clock = clock
        self._wait_seconds = wait_seconds
        self._lock = threading.Lock()
        self._verdict: tuple[datetime, SmsCredentialsRefused | None] | None = None
        self._running: threading.Event | None = None  # set when the check in flight is done

    def refusal(self) -> SmsCredentialsRefused | None:
        """The refusal of every provider's credentials, or None while at least one takes them (or none
        answered: not known to be refused)."""
        if not self._checks:
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

    def _last(self) -> SmsCredentialsRefused | None:
        return None if self._verdict is None else self._verdict[1]

    def _check(self, done: threading.Event) -> None:
        try:
            verdict = verdict_of([ask(check) for check in self._checks])
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
        logger.warning(
            "sms credential check failed", extra={"provider": check.name, "error": type(exc).__name__}
        )
        return CredentialAnswer.unanswered(check.name, type(exc).__name__)


def verdict_of(answers: Sequence[CredentialAnswer]) -> SmsCredentialsRefused | None:
    """A refusal naming each provider and its answer when all of them refused; else None."""
    if not answers or not all(answer.refused for answer in answers):
        return None
    return SmsCredentialsRefused("; ".join(f"{answer.provider}: {answer.detail}" for answer in answers))

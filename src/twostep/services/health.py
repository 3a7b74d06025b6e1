"""Liveness and readiness: is the process up, and can it do its job (storage answers and takes writes, and
at least one SMS provider and the email provider take our credentials: see `credential_watch`).

Readiness writes one short-lived counter, through the same port every limit uses, because a database
that answers reads while refusing writes (full disk, read-only file, lost lock) fails every sign-in.
The outcome is kept for `probe_every` so a probe polled hard (or by anyone) costs at most one write a
second per process; probes that arrive during a check wait for its outcome.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Protocol

from twostep.domain.clock import Clock
from twostep.domain.errors import DependencyUnavailable
from twostep.domain.ports import CounterStore
from twostep.services.credential_watch import CredentialWatch

PROBE_KEY = "health:ready"


class Pingable(Protocol):
    def ping(self) -> None:
        """Raises StorageUnavailable when the backend cannot be reached."""
        ...


class HealthStore(Pingable, CounterStore, Protocol):
    """What readiness needs from storage."""


class HealthService:
    def __init__(
        self,
        store: HealthStore,
        clock: Clock,
        probe_every: timedelta = timedelta(seconds=1),
        credentials: CredentialWatch | None = None,
    ) -> None:
        self._store, self._clock, self._probe_every = store, clock, probe_every
        self._credentials = (
            credentials  # the SMS and email providers' (None: not asked, as with injected senders)
        )
        # One check at a time: probes that arrive while one runs (storage slow or locked) wait for its
        # outcome instead of each writing to (and waiting on) the slow storage in turn.
        self._lock = threading.Lock()
        self._last: tuple[datetime, DependencyUnavailable | None] | None = None

    def ready(self) -> None:
        """Raises: DependencyUnavailable: StorageUnavailable when storage cannot be read or written,
        SmsCredentialsRefused when every SMS provider refuses its credentials, EmailCredentialsRefused when
        the email provider refuses its own."""
        with self._lock:
            last = self._last
            if last is None or self._clock.now() - last[0] >= self._probe_every:
                failure = self._check()
                last = self._last = (self._clock.now(), failure)  # stamped when known: waiters reuse it
        if last[1] is not None:
            raise last[1]
        refused = self._credentials.refusal() if self._credentials is not None else None
        if refused is not None:
            raise refused

    def _check(self) -> DependencyUnavailable | None:
        now = self._clock.now()
        try:
            self._store.ping()
            self._store.increment_counter(PROBE_KEY, 1, now, now + timedelta(minutes=1))
        except DependencyUnavailable as exc:
            return exc
        return None

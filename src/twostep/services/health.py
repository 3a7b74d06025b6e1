"""Liveness and readiness: is the process up, and can it do its job (storage answers and takes writes).

Readiness writes one short-lived counter, through the same port every limit uses, because a database
that answers reads while refusing writes (full disk, read-only file, lost lock) fails every sign-in.
The outcome is kept for `probe_every` so a probe polled hard (or by anyone) costs at most one write a
second per process.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Protocol

from twostep.domain.clock import Clock
from twostep.domain.errors import DependencyUnavailable
from twostep.domain.ports import CounterStore

PROBE_KEY = "health:ready"


class Pingable(Protocol):
    def ping(self) -> None:
        """Raises StorageUnavailable when the backend cannot be reached."""
        ...


class HealthStore(Pingable, CounterStore, Protocol):
    """What readiness needs from storage."""


class HealthService:
    def __init__(
        self, store: HealthStore, clock: Clock, probe_every: timedelta = timedelta(seconds=1)
    ) -> None:
        self._store, self._clock, self._probe_every = store, clock, probe_every
        self._lock = threading.Lock()
        self._last: tuple[datetime, DependencyUnavailable | None] | None = None

    def ready(self) -> None:
        """Raises: DependencyUnavailable (StorageUnavailable) when storage cannot be read or written."""
        now = self._clock.now()
        with self._lock:
            last = self._last
        if last is not None and now - last[0] < self._probe_every:
            if last[1] is not None:
                raise last[1]
            return
        failure: DependencyUnavailable | None = None
        try:
            self._store.ping()
            self._store.increment_counter(PROBE_KEY, 1, now, now + timedelta(minutes=1))
        except DependencyUnavailable as exc:
            failure = exc
        with self._lock:
            self._last = (now, failure)
        if failure is not None:
            raise failure

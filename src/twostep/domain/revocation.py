"""The list of recently ended sessions, kept in memory and refreshed from storage every few seconds.

Access tokens stay self-verified (no storage read per request); what makes a sign-out reach them is
this deny-list of session ids (`sid`). An entry matters only while a token of that session can still
be unexpired, so storage is asked only for sessions revoked within `window` (the access-token
lifetime plus leeway), and after the first read only for the newest entries, with an overlap that
covers writers whose clocks or commits lag a little.

Freshness is the promise: an entry written to storage is seen here within `refresh_every`, and if
storage cannot be read, the last list is used only until it is `max_age` old; after that every check
fails with `StorageUnavailable` (closed), never with an Allow on an unknown state. Pure Python, so
the Lambda authorizer can use it without loading anything heavy.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from twostep.domain.clock import Clock
from twostep.domain.cold_start_typing import TYPE_CHECKING, NamedTuple, Protocol
from twostep.domain.errors import StorageUnavailable

if TYPE_CHECKING:
    import logging


def _logger() -> logging.Logger:
    """Imported on first use: the authorizer's cold start loads no `logging` unless it has to warn."""
    import logging

    return logging.getLogger("twostep.revocation")


# `logging`'s levels, without importing it (see `_logger`).
WARNING, ERROR = 30, 40
# How far back each incremental read reaches before the previous one: clock skew and slow commits.
OVERLAP = timedelta(seconds=60)


class Revocation(NamedTuple):  # not a dataclass: `dataclasses` imports `inspect`, a cold-start cost
    """One entry of the list of recently ended sessions that token checks consult."""

    session_id: str
    revoked_at: datetime


class RevocationSource(Protocol):
    def list_revocations(self, since: datetime) -> list[Revocation]:
        """Sessions revoked at or after `since`, in any order.

        Raises:
            StorageUnavailable: the list could not be read.
        """
        ...


class RevocationList:
    """Thread-safe; `is_revoked` is a dict lookup except when the list is due for a refresh."""

    def __init__(
        self,
        source: RevocationSource,
        clock: Clock,
        *,
        refresh_every: timedelta,
        max_age: timedelta,
        window: timedelta,
    ) -> None:
        self._source, self._clock = source, clock
        self._refresh_every, self._max_age, self._window = refresh_every, max(max_age, refresh_every), window
        self._revoked: dict[str, datetime] = {}
        self._fetched_at: datetime | None = None  # when the last successful read started
        self._lock = threading.Lock()
        self._said: str | None = None  # the failed read's state last logged (`_say`)
        self.reads = 0  # storage reads so far (for tests and the bench)

    @property
    def read_by_every_check(self) -> bool:
        """A zero refresh interval: each check reads storage itself, whatever was read just before."""
        return self._refresh_every <= timedelta(0)

    def due(self) -> bool:
        """Whether the next check would read storage first (callers may do that off the event loop)."""
        fetched = self._fetched_at
        return fetched is None or self._clock.now() - fetched >= self._refresh_every

    def is_revoked(self, session_id: str) -> bool:
        """Raises: StorageUnavailable when the list is older than `max_age` and cannot be read."""
        if self.due():
            self.refresh()
        return session_id in self._revoked

    def note(self, *session_ids: str) -> None:
        """Sessions this process just revoked: refused here at once, before storage is read again."""
        now = self._clock.now()
        with self._lock:
            self._revoked = {**self._revoked, **dict.fromkeys(session_ids, now)}

    def refresh(self) -> None:
        """Read what storage added since the last read (one reader at a time; others use the last list).

        Raises:
            StorageUnavailable: the read failed and the list in hand is older than `max_age`.
        """
        with self._lock:
            if not self.due():
                return  # another thread refreshed while this one waited
            started = self._clock.now()
            since = started - self._window if self._fetched_at is None else self._fetched_at - OVERLAP
            try:
                found = self._source.list_revocations(since)
            except StorageUnavailable:
                if self._fetched_at is not None and started - self._fetched_at < self._max_age:
                    self._say(WARNING, "revocation list not refreshed; using the last one for now")
                    return
                self._say(ERROR, "revocation list unavailable: refusing tokens until storage answers")
                raise
            self._said = None
            self.reads += 1
            horizon = started - self._window
            merged = {sid: at for sid, at in self._revoked.items() if at >= horizon}
            for entry in found:
                if entry.revoked_at >= horizon:
                    merged[entry.session_id] = entry.revoked_at
            self._revoked = merged
            self._fetched_at = started

    def _say(self, level: int, message: str) -> None:
        """Logs a failed read's state once, until a read works again.

        While storage is down every check (every protected request) tries again; each logged the line
        anew, a second line per request beside the request's own 503 line (and a third party's log
        flooded under load). Called under the lock.
        """
        if message != self._said:
            self._said = message
            _logger().log(level, message)

    def __len__(self) -> int:
        return len(self._revoked)

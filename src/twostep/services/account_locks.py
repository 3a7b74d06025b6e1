"""Administrative account locks (`twostep users lock`): a locked account cannot sign in or refresh.

Kept as a counter that never expires in practice, so every storage already supports it atomically.
"""

from __future__ import annotations

from datetime import timedelta

from twostep.domain.clock import Clock
from twostep.domain.errors import AccountLocked
from twostep.domain.ports import CounterStore

LOCK_LIFETIME = timedelta(days=365 * 100)


def lock_key(user_id: str) -> str:
    """The counter that is live while `user_id` is locked."""
    return f"account-lock:{user_id}"


class AccountLocks:
    def __init__(self, counters: CounterStore, clock: Clock) -> None:
        self._counters = counters
        self._clock = clock

    def lock(self, user_id: str) -> None:
        now = self._clock.now()
        self._counters.increment_counter(lock_key(user_id), 1, now, now + LOCK_LIFETIME)

    def unlock(self, user_id: str) -> None:
        self._counters.delete_counter(lock_key(user_id))

    def is_locked(self, user_id: str) -> bool:
        return self._counters.get_counter(lock_key(user_id), self._clock.now()) is not None

    def check(self, user_id: str) -> None:
        """Raises: AccountLocked."""
        if self.is_locked(user_id):
            raise AccountLocked()

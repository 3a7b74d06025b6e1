"""Counters in memory, one by one or as a batch (`CounterStore.change_counters`); every method holds the
storage's one lock, so a batch is all or nothing."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from twostep.domain.counter_batch import (
    STOPPED,
    CounterBatch,
    CounterChange,
    Unless,
    check_batch,
    first_refused,
)
from twostep.domain.ports import Counter
from twostep.storage.memory_blocks import MemoryPrefixBlocks


class MemoryCounters(MemoryPrefixBlocks):
    _lock: threading.RLock

    def _init_counters(self) -> None:
        self._counters: dict[str, Counter] = {}

    def increment_counter(self, key: str, amount: int, now: datetime, expires_at: datetime) -> int:
        with self._lock:
            current = self._counters.get(key)
            if current is None or current.expires_at <= now:
                current = Counter(0, expires_at)
            updated = Counter(current.value + amount, current.expires_at)
            self._counters[key] = updated
            return updated.value

    def get_counter(self, key: str, now: datetime) -> Counter | None:
        current = self._counters.get(key)
        return current if current is not None and current.expires_at > now else None

    def get_counters(self, keys: Sequence[str], now: datetime) -> dict[str, Counter]:
        live = {key: self.get_counter(key, now) for key in keys}
        return {key: counter for key, counter in live.items() if counter is not None}

    def delete_counter(self, key: str) -> None:
        with self._lock:
            self._counters.pop(key, None)

    def change_counters(
        self, changes: Sequence[CounterChange], now: datetime, unless: Sequence[Unless] = ()
    ) -> CounterBatch:
        check_batch(changes)
        with self._lock:
            for guard in unless:
                if guard.blocked_prefix:
                    if self.get_prefix_block(guard.key, now) is not None:
                        return STOPPED
                    continue
                live = self.get_counter(guard.key, now)
                if live is not None and (guard.at_least is None or live.value >= guard.at_least):
                    return STOPPED
            after = [self._changed(change, now) for change in changes]
            refused = first_refused(changes, [counter.value for counter in after])
            if refused is None:
                for change, counter in zip(changes, after, strict=True):
                    self._counters[change.key] = counter
            return CounterBatch(refused, tuple(c.value for c in after), tuple(c.expires_at for c in after))

    def _changed(self, change: CounterChange, now: datetime) -> Counter:
        current = self._counters.get(change.key)
        if change.restart or current is None or current.expires_at <= now:
            return Counter(change.amount, change.expires_at)
        return Counter(current.value + change.amount, current.expires_at)

"""`Idempotency-Key` records in memory; every method holds the storage's one lock."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime

from twostep.domain.idempotency import IdempotencyRecord


def taken(current: IdempotencyRecord | None, at: datetime) -> bool:
    """Whether `current` still holds its key at `at` (unexpired, and answered or still locked)."""
    if current is None or current.expires_at <= at:
        return False
    return current.answer is not None or current.locked_until > at


class MemoryIdempotency:
    _lock: threading.RLock

    def _init_idempotency(self) -> None:
        self._idempotency: dict[str, IdempotencyRecord] = {}

    def claim_idempotency_key(self, record: IdempotencyRecord) -> bool:
        with self._lock:
            if taken(self._idempotency.get(record.key), record.created_at):
                return False
            self._idempotency[record.key] = replace(record, answer=None)
            return True

    def get_idempotency_record(self, key: str, now: datetime) -> IdempotencyRecord | None:
        record = self._idempotency.get(key)
        return record if record is not None and record.expires_at > now else None

    def save_idempotent_answer(self, key: str, lease: str, answer: str) -> bool:
        with self._lock:
            current = self._idempotency.get(key)
            if current is None or current.lease != lease or current.answer is not None:
                return False
            self._idempotency[key] = replace(current, answer=answer)
            return True

    def release_idempotency_key(self, key: str, lease: str) -> None:
        with self._lock:
            current = self._idempotency.get(key)
            if current is not None and current.lease == lease and current.answer is None:
                del self._idempotency[key]

"""In-process storage for tests and one-off runs: dicts behind one lock, so each method is atomic.

Each group of records lives in its own mixin (memory_users.py, memory_challenges.py, memory_sessions.py,
memory_counters.py, …), which creates its dicts in an `_init_…` method and holds the lock shared here.
A mixin that calls another's methods inherits it, as the SQL backends' mixins do (deleting a user ends
their sessions and erases their factors; a session writes audits and counters; a counter batch checks
prefix blocks). The shared key record and housekeeping stay here: a purge reaches every mixin's dicts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from twostep.domain.ports import KeyRecord, PurgeRules
from twostep.storage.memory_audit import MemoryAudit
from twostep.storage.memory_blocks import MemoryPrefixBlocks
from twostep.storage.memory_challenges import MemoryChallenges
from twostep.storage.memory_counters import MemoryCounters
from twostep.storage.memory_deliveries import MemoryDeliveries
from twostep.storage.memory_factors import MemoryFactors
from twostep.storage.memory_idempotency import MemoryIdempotency
from twostep.storage.memory_messages import MemoryMessages
from twostep.storage.memory_sessions import MemorySessions
from twostep.storage.memory_users import MemoryUsers
from twostep.storage.sign_in_counts import CountsThenAccount

T = TypeVar("T")


class MemoryStorage(
    MemoryUsers,
    MemoryChallenges,
    MemorySessions,
    MemoryCounters,
    MemoryPrefixBlocks,
    MemoryDeliveries,
    MemoryAudit,
    MemoryFactors,
    MemoryMessages,
    MemoryIdempotency,
    CountsThenAccount,
):
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._key_record: KeyRecord | None = None
        self._init_users()
        self._init_challenges()
        self._init_sessions()
        self._init_messages()
        self._init_counters()
        self._init_audit()
        self._init_blocks()
        self._init_factors()
        self._init_deliveries()
        self._init_idempotency()

    def init_schema(self) -> None:
        """Nothing to create."""

    def migrate(self) -> list[int]:
        """No schema, so nothing to migrate."""
        return []

    def ping(self) -> None:
        """Always reachable."""

    def close(self) -> None:
        """Nothing to release."""

    # --- shared keys ---
    def get_key_record(self) -> KeyRecord | None:
        return self._key_record

    def put_key_record(self, record: KeyRecord, replaces: int | None) -> bool:
        with self._lock:
            stored = self._key_record
            if (stored.version if stored else None) != replaces:
                return False
            self._key_record = record
            return True

    # --- housekeeping ---
    expired_by_backend: frozenset[str] = frozenset()

    def purge_expired(self, rules: PurgeRules) -> dict[str, int]:
        with self._lock:
            return {
                "challenges": _drop(
                    self._challenges, lambda c: c.expires_at < rules.challenges_before, rules.limit
                ),
                "refresh_tokens": _drop(
                    self._refresh,
                    lambda t: (
                        t.family_expires_at < rules.refresh_before and t.expires_at < rules.refresh_before
                    ),
                    rules.limit,
                ),
                "counters": _drop(
                    self._counters, lambda c: c.expires_at < rules.counters_before, rules.limit
                ),
                "outbox": _drop_listed(self._outbox, lambda e: e.sent_at < rules.outbox_before, rules.limit),
                "audit": _drop_listed(self._audit, lambda e: e.at < rules.audit_before, rules.limit),
                "sessions": _drop(self._sessions, lambda s: s.expires_at < rules.refresh_before, rules.limit),
                "revocations": _drop(
                    self._revocations, lambda at: at < rules.revocations_before, rules.limit
                ),
                "webauthn_ceremonies": _drop(
                    self._ceremonies, lambda c: c.expires_at < rules.challenges_before, rules.limit
                ),
                "remembered_devices": _drop(
                    self._devices, lambda d: d.expires_at < rules.challenges_before, rules.limit
                ),
                "prefix_blocks": _drop(
                    self._blocks, lambda b: b.until < rules.challenges_before, rules.limit
                ),
                "deliveries": _drop(
                    self._deliveries, lambda d: d.expires_at < rules.challenges_before, rules.limit
                ),
                "idempotency_keys": _drop(
                    self._idempotency, lambda k: k.expires_at < rules.counters_before, rules.limit
                ),
            }


def _drop(rows: dict[str, T], ended: Callable[[T], bool], limit: int) -> int:
    doomed = [key for key, row in rows.items() if ended(row)][:limit]
    for key in doomed:
        del rows[key]
    return len(doomed)


def _drop_listed(rows: list[T], ended: Callable[[T], bool], limit: int) -> int:
    doomed = {id(row) for row in [row for row in rows if ended(row)][:limit]}
    rows[:] = [row for row in rows if id(row) not in doomed]
    return len(doomed)

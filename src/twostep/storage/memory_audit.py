"""The audit trail in memory, oldest first; every method holds the storage's one lock."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace

from twostep.domain.models import AuditEvent


class MemoryAudit:
    _lock: threading.RLock

    def _init_audit(self) -> None:
        self._audit: list[AuditEvent] = []

    def append_audit(self, event: AuditEvent) -> None:
        with self._lock:
            self._audit.append(event)

    def append_audits(self, events: Sequence[AuditEvent]) -> None:
        with self._lock:
            self._audit.extend(events)

    def pseudonymise_audit(self, user_id: str, pseudonym: str) -> int:
        with self._lock:
            mine = [i for i, e in enumerate(self._audit) if e.user_id == user_id]
            for index in mine:
                self._audit[index] = replace(
                    self._audit[index], user_id=pseudonym, email_hash=None, phone_masked=None, ip=None
                )
            return len(mine)

    def list_audit(self, user_id: str | None = None, limit: int = 50) -> list[AuditEvent]:
        with self._lock:
            matching = [e for e in self._audit if user_id is None or e.user_id == user_id]
        return matching[-limit:] if limit > 0 else []

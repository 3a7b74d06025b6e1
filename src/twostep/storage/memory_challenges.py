"""Challenges (one-time codes) in memory; every method holds the storage's one lock."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from twostep.domain.models import AuditEvent, Challenge, CodeUse, User
from twostep.domain.receipts import Delivery
from twostep.storage.memory_audit import MemoryAudit
from twostep.storage.memory_deliveries import MemoryDeliveries


class MemoryChallenges(MemoryDeliveries, MemoryAudit):
    _lock: threading.RLock
    _users: dict[str, User]  # MemoryUsers' accounts, read for `get_challenge_with_account`

    def _init_challenges(self) -> None:
        self._challenges: dict[str, Challenge] = {}

    def put_challenge(self, challenge: Challenge) -> None:
        with self._lock:
            self._challenges[challenge.id] = challenge

    def get_challenge(self, challenge_id: str) -> Challenge | None:
        return self._challenges.get(challenge_id)

    def get_challenge_with_account(self, challenge_id: str) -> tuple[Challenge | None, User | None]:
        with self._lock:
            challenge = self._challenges.get(challenge_id)
            if challenge is None or challenge.purpose != "login":
                return challenge, None
            return challenge, self._users.get(challenge.subject)

    def replace_code(
        self, challenge_id: str, code_hmac: str, expires_at: datetime, now: datetime, channel: str = "sms"
    ) -> Challenge | None:
        with self._lock:
            current = self._challenges.get(challenge_id)
            if current is None or current.consumed_at is not None:
                return None
            updated = replace(
                current,
                code_hmac=code_hmac,
                expires_at=expires_at,
                last_sent_at=now,
                sends=current.sends + 1,
                channel=channel,
            )
            self._challenges[challenge_id] = updated
            return updated

    def put_back_code(
        self, challenge_id: str, replaced_hmac: str, code_hmac: str, expires_at: datetime, channel: str
    ) -> bool:
        with self._lock:
            current = self._challenges.get(challenge_id)
            if current is None or current.code_hmac != replaced_hmac or current.consumed_at is not None:
                return False
            self._challenges[challenge_id] = replace(
                current, code_hmac=code_hmac, expires_at=expires_at, channel=channel
            )
            return True

    def arm_challenge_audited(self, challenge: Challenge, audits: Sequence[AuditEvent]) -> Challenge | None:
        with self._lock:
            c = self._challenges.get(challenge.id)
            if c is None or c.code_hmac != challenge.code_hmac or c.consumed_at is not None:
                return None
            armed = self._challenges[challenge.id] = replace(c, expires_at=challenge.expires_at)
            self.append_audits(audits)
            return armed

    def store_sent_challenge(
        self, challenge: Challenge, audits: Sequence[AuditEvent], delivery: Delivery | None = None
    ) -> None:
        with self._lock:
            placeholder = self._challenges.get(challenge.id)
            if placeholder is not None:  # its wrong tries stay counted: see `ChallengeStore`
                challenge = replace(challenge, attempts=placeholder.attempts)
            self._challenges[challenge.id] = challenge
            if delivery is not None:
                self.add_delivery(delivery)
            self.append_audits(audits)

    def count_attempt(self, challenge_id: str, now: datetime) -> Challenge | None:
        with self._lock:
            current = self._challenges.get(challenge_id)
            if (
                current is None
                or current.consumed_at is not None
                or current.expires_at <= now
                or current.attempts >= current.max_attempts
            ):
                return None
            updated = replace(current, attempts=current.attempts + 1)
            self._challenges[challenge_id] = updated
            return updated

    def attempt_challenge(self, challenge_id: str, now: datetime, consume_if: str | None) -> Challenge | None:
        with self._lock:
            counted = self.count_attempt(challenge_id, now)
            if counted is None or consume_if is None or counted.code_hmac != consume_if:
                return counted
            consumed = replace(counted, consumed_at=now)
            self._challenges[challenge_id] = consumed
            return consumed

    def consume_challenge(self, challenge_id: str, now: datetime) -> bool:
        with self._lock:
            current = self._challenges.get(challenge_id)
            if current is None or current.consumed_at is not None:
                return False
            self._challenges[challenge_id] = replace(current, consumed_at=now)
            return True

    def expire_challenge(self, challenge_id: str, now: datetime) -> None:
        with self._lock:
            current = self._challenges.get(challenge_id)
            if current is not None:
                self._challenges[challenge_id] = replace(current, expires_at=min(current.expires_at, now))


def usable_by(challenge: Challenge, use: CodeUse) -> bool:
    """Whether `use` may consume `challenge` (`CodeUse`): open, and still the code and channel read."""
    same_code = challenge.code_hmac == use.code_hmac and challenge.channel == use.channel
    return same_code and challenge.open_at(use.at)

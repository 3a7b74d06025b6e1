"""Sessions, their refresh tokens and the revocation list in memory; every method holds the storage's one
lock, so `revoke_family` ends a family and its session at once."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from twostep.domain.counter_batch import CounterChange, Unless, check_unlimited
from twostep.domain.models import (
    AuditEvent,
    Challenge,
    CodeUse,
    Page,
    RefreshToken,
    Revocation,
    Session,
    User,
)
from twostep.storage.cursors import page_of_sessions
from twostep.storage.memory_audit import MemoryAudit
from twostep.storage.memory_challenges import usable_by
from twostep.storage.memory_counters import MemoryCounters


def unchanged_in(users: Mapping[str, User], account: User) -> bool:
    """Whether `users` still holds `account` with its credentials, exactly as the other storages compare
    them (not by `credentials_tag`, which leaves out the password hash's NFKC mark; the caller holds the
    lock)."""
    current = users.get(account.id)
    return current is not None and current.credentials == account.credentials


class MemorySessions(MemoryCounters, MemoryAudit):
    _lock: threading.RLock
    _challenges: dict[str, Challenge]  # MemoryChallenges' codes, one consumed by `add_session_counted`
    _users: dict[str, User]  # MemoryUsers' accounts, checked by `unchanged`

    def _init_sessions(self) -> None:
        self._refresh: dict[str, RefreshToken] = {}
        self._sessions: dict[str, Session] = {}
        self._revocations: dict[str, datetime] = {}

    # --- refresh tokens ---
    def add_refresh_token(self, token: RefreshToken) -> None:
        with self._lock:
            self._refresh[token.token_hash] = token

    def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        return self._refresh.get(token_hash)

    def claim_refresh_token(
        self, token_hash: str, now: datetime, issued_after: datetime | None = None
    ) -> RefreshToken | None:
        with self._lock:
            token = self._refresh.get(token_hash)
            if token is None or token.used_at or token.revoked_at or token.expires_at <= now:
                return None
            if issued_after is not None and token.created_at <= issued_after:
                return None
            claimed = replace(token, used_at=now)
            self._refresh[token_hash] = claimed
            return claimed

    def revoke_family(self, family_id: str, now: datetime) -> bool:
        with self._lock:
            for token_hash, token in self._refresh.items():
                if token.family_id == family_id and token.revoked_at is None:
                    self._refresh[token_hash] = replace(token, revoked_at=now)
            session = self._sessions.get(family_id)
            known = session is not None or any(t.family_id == family_id for t in self._refresh.values())
            if not known or family_id in self._revocations:
                return False
            self._revocations[family_id] = now
            if session is not None:
                self._sessions[family_id] = replace(session, revoked_at=now)
            return True

    # --- sessions ---
    def add_session(
        self,
        session: Session,
        first_token: RefreshToken,
        audits: Sequence[AuditEvent] = (),
        unchanged: User | None = None,
    ) -> bool:
        with self._lock:
            if unchanged is not None and not self._unchanged(unchanged):
                return False
            self._sessions[session.id] = session
            self._refresh[first_token.token_hash] = first_token
            self.append_audits(audits)
            return True

    def _unchanged(self, account: User) -> bool:
        return unchanged_in(self._users, account)

    def add_session_counted(
        self,
        session: Session,
        first_token: RefreshToken,
        audits: Sequence[AuditEvent],
        changes: Sequence[CounterChange],
        now: datetime,
        unless: Sequence[Unless] = (),
        consuming: CodeUse | None = None,
        unchanged: User | None = None,
    ) -> bool:
        check_unlimited(changes)
        with self._lock:
            if unchanged is not None and not self._unchanged(unchanged):
                return False
            consumed = None
            if consuming is not None:
                current = self._challenges.get(consuming.challenge_id)
                if current is None or not usable_by(current, consuming):
                    return False
                consumed = replace(current, attempts=current.attempts + 1, consumed_at=consuming.at)
            if self.change_counters(changes, now, unless).stopped:
                return False
            if consumed is not None:
                self._challenges[consumed.id] = consumed
            return self.add_session(session, first_token, audits)

    def get_session(self, user_id: str, session_id: str) -> Session | None:
        session = self._sessions.get(session_id)
        return session if session is not None and session.user_id == user_id else None

    def touch_session(self, user_id: str, session_id: str, now: datetime) -> Session | None:
        with self._lock:
            session = self.get_session(user_id, session_id)
            if session is None:
                return None
            self._sessions[session_id] = touched = replace(session, last_used_at=now)
            return touched

    def list_sessions(self, user_id: str, now: datetime) -> list[Session]:
        with self._lock:
            live = [
                s
                for s in self._sessions.values()
                if s.user_id == user_id and s.revoked_at is None and s.expires_at > now
            ]
        return sorted(live, key=lambda s: (s.created_at, s.id), reverse=True)

    def end_sessions(
        self, user_id: str, now: datetime, live_after: datetime, keep: str | None = None
    ) -> list[str]:
        with self._lock:
            ending = {s.id for s in self.list_sessions(user_id, live_after) if s.id != keep}
            # One pass over the tokens for every session (`revoke_family` makes one per session).
            for token_hash, token in self._refresh.items():
                if token.family_id in ending and token.revoked_at is None:
                    self._refresh[token_hash] = replace(token, revoked_at=now)
            for session_id in ending:
                self._sessions[session_id] = replace(self._sessions[session_id], revoked_at=now)
                self._revocations[session_id] = now
            return sorted(ending)

    def page_sessions(
        self, user_id: str, now: datetime, limit: int, cursor: str | None = None
    ) -> Page[Session]:
        return page_of_sessions(self.list_sessions(user_id, now), limit, cursor)

    def list_revocations(self, since: datetime) -> list[Revocation]:
        with self._lock:
            return [Revocation(sid, at) for sid, at in self._revocations.items() if at >= since]

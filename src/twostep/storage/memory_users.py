"""Accounts in memory: users by id, email and proven phone; every method holds the storage's one lock."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime

from twostep.domain.errors import AccountExists
from twostep.domain.factor_summary import EnrolledFactors
from twostep.domain.identity import E164
from twostep.domain.models import Challenge, EmailCollision, Page, User
from twostep.storage.email_upgrade import canonicalise
from twostep.storage.memory_factors import MemoryFactors
from twostep.storage.memory_sessions import MemorySessions


class MemoryUsers(MemorySessions, MemoryFactors):
    _lock: threading.RLock
    _challenges: dict[str, Challenge]  # MemoryChallenges' codes, erased with their account

    def _init_users(self) -> None:
        self._users: dict[str, User] = {}
        self._emails: dict[str, str] = {}
        self._phones: dict[str, str] = {}

    def add_user(self, user: User) -> None:
        with self._lock:
            if user.email in self._emails or (user.phone is not None and user.phone in self._phones):
                raise AccountExists()
            self._users[user.id] = user
            self._emails[user.email] = user.id
            if user.phone is not None and user.phone_verified:
                self._phones[user.phone] = user.id

    def prove_phone(self, account: User, phone: E164) -> bool:
        user_id = account.id
        with self._lock:
            user = self._users.get(user_id)
            if user is None or not self._unchanged(account) or self._phones.get(phone, user_id) != user_id:
                return False
            if user.phone_verified and user.phone is not None and user.phone != phone:
                self._phones.pop(user.phone, None)
            self._phones[phone] = user_id
            self._users[user_id] = replace(user, phone=phone, phone_verified=True)
            for other in list(self._users.values()):
                if other.id != user_id and other.phone == phone:
                    self._users[other.id] = replace(other, phone=None, phone_verified=False)
            return True

    def prove_email(self, account: User, email: str) -> bool:
        return self._move_address(account, email, proven=True)

    def assign_email(self, account: User, email: str) -> bool:
        return self._move_address(account, email, proven=False)

    def _move_address(self, account: User, email: str, *, proven: bool) -> bool:
        with self._lock:
            if not self._unchanged(account):
                return False
            if self._emails.get(email, account.id) != account.id:
                raise AccountExists()
            self._emails.pop(account.email, None)
            self._emails[email] = account.id
            self._users[account.id] = replace(self._users[account.id], email=email, email_verified=proven)
            return True

    def release_email(self, account: User, placeholder: str) -> bool:
        with self._lock:
            if not self._unchanged(account) or self._users[account.id].email_verified:
                return False
            self._emails.pop(account.email, None)
            self._emails[placeholder] = account.id
            self._users[account.id] = replace(
                self._users[account.id], email=placeholder, email_verified=False
            )
            return True

    def get_user(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    def canonicalise_emails(self) -> list[EmailCollision]:
        with self._lock:
            users = sorted(self._users.values(), key=lambda user: (user.created_at, user.id))
            return canonicalise([(user.id, user.email) for user in users], self._move_email)

    def _move_email(self, user_id: str, stored: str, canonical: str) -> str | None:
        with self._lock:
            user = self._users.get(user_id)
            if user is None or user.email != stored:
                return None
            holder = self._emails.get(canonical)
            if holder is not None:
                return holder
            self._emails.pop(stored, None)
            self._emails[canonical] = user_id
            self._users[user_id] = replace(user, email=canonical)
            return None

    def find_user_by_email(self, email: str) -> User | None:
        with self._lock:
            user_id = self._emails.get(email)
            return self._users.get(user_id) if user_id else None

    def find_user_signing_in(self, email: str) -> tuple[User | None, EnrolledFactors | None]:
        with self._lock:
            user = self.find_user_by_email(email)
            return (None, None) if user is None else (user, self.enrolled_factors(user.id))

    def set_password_hash(self, account: User, password_hash: str) -> bool:
        with self._lock:
            if not self._unchanged(account):
                return False
            self._users[account.id] = replace(self._users[account.id], password_hash=password_hash)
            return True

    def set_user_locale(self, user_id: str, locale: str | None) -> bool:
        with self._lock:
            if user_id not in self._users:
                return False
            self._users[user_id] = replace(self._users[user_id], locale=locale)
            return True

    def list_users(self, limit: int, cursor: str | None = None) -> Page[User]:
        with self._lock:
            ordered = sorted((u for u in self._users.values() if u.id > (cursor or "")), key=lambda u: u.id)
        page = ordered[:limit]
        return Page(page, page[-1].id if len(ordered) > limit else None)

    def delete_user(self, user_id: str, now: datetime) -> bool:
        with self._lock:
            user = self._users.pop(user_id, None)
            if user is None:
                return False
            self._emails.pop(user.email, None)
            if user.phone is not None and self._phones.get(user.phone) == user_id:
                self._phones.pop(user.phone, None)
            for session in list(self._sessions.values()):
                if session.user_id == user_id:
                    self.revoke_family(session.id, now)
                    self._sessions[session.id] = replace(self._sessions[session.id], client=None, ip=None)
            for token_hash, token in self._refresh.items():
                if token.user_id == user_id and token.revoked_at is None:
                    self._refresh[token_hash] = replace(token, revoked_at=now)
            self._erase_factors_of(user_id)
            self._erase_challenges_of(user_id)
            return True

    def _erase_challenges_of(self, user_id: str) -> None:
        """Inside `delete_user`: the account's codes, and the number or address each holds (a
        verification's subject is the caller's auth id, never an account)."""
        for challenge in list(self._challenges.values()):
            if challenge.subject == user_id and challenge.purpose != "verify":
                del self._challenges[challenge.id]

"""In-process storage for tests and one-off runs: dicts behind one lock, so each method is atomic."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from twostep.domain.counter_batch import (
    STOPPED,
    CounterBatch,
    CounterChange,
    Unless,
    check_batch,
    check_unlimited,
    first_refused,
)
from twostep.domain.errors import AccountExists
from twostep.domain.factor_summary import EnrolledFactors
from twostep.domain.identity import E164
from twostep.domain.models import (
    AuditEvent,
    Challenge,
    Message,
    OutboxEntry,
    Page,
    RefreshToken,
    Revocation,
    Session,
    User,
)
from twostep.domain.ports import Counter, KeyRecord, PrefixBlock, PurgeRules
from twostep.domain.receipts import Delivery
from twostep.storage.cursors import message_cursor, parse_message_cursor
from twostep.storage.memory_deliveries import MemoryDeliveries
from twostep.storage.memory_factors import MemoryFactors
from twostep.storage.memory_idempotency import MemoryIdempotency
from twostep.storage.sign_in_counts import CountsThenAccount

T = TypeVar("T")


class MemoryStorage(MemoryFactors, MemoryDeliveries, MemoryIdempotency, CountsThenAccount):
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._users: dict[str, User] = {}
        self._emails: dict[str, str] = {}
        self._phones: dict[str, str] = {}
        self._challenges: dict[str, Challenge] = {}
        self._refresh: dict[str, RefreshToken] = {}
        self._sessions: dict[str, Session] = {}
        self._revocations: dict[str, datetime] = {}
        self._messages: list[Message] = []
        self._outbox: list[OutboxEntry] = []
        self._counters: dict[str, Counter] = {}
        self._audit: list[AuditEvent] = []
        self._key_record: KeyRecord | None = None
        self._blocks: dict[str, PrefixBlock] = {}
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

    # --- users ---
    def add_user(self, user: User) -> None:
        with self._lock:
            if user.email in self._emails or (user.phone is not None and user.phone in self._phones):
                raise AccountExists()
            self._users[user.id] = user
            self._emails[user.email] = user.id
            if user.phone is not None and user.phone_verified:
                self._phones[user.phone] = user.id

    def prove_phone(self, user_id: str, phone: E164) -> bool:
        with self._lock:
            user = self._users.get(user_id)
            if user is None or self._phones.get(phone, user_id) != user_id:
                return False
            if user.phone_verified and user.phone is not None and user.phone != phone:
                self._phones.pop(user.phone, None)
            self._phones[phone] = user_id
            self._users[user_id] = replace(user, phone=phone, phone_verified=True)
            for other in list(self._users.values()):
                if other.id != user_id and other.phone == phone:
                    self._users[other.id] = replace(other, phone=None, phone_verified=False)
            return True

    def prove_email(self, user_id: str, email: str) -> None:
        with self._lock:
            user = self._users.get(user_id)
            if user is None:
                return
            if self._emails.get(email, user_id) != user_id:
                raise AccountExists()
            self._emails.pop(user.email, None)
            self._emails[email] = user_id
            self._users[user_id] = replace(user, email=email, email_verified=True)

    def get_user(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    def find_user_by_email(self, email: str) -> User | None:
        with self._lock:
            user_id = self._emails.get(email)
            return self._users.get(user_id) if user_id else None

    def find_user_signing_in(self, email: str) -> tuple[User | None, EnrolledFactors | None]:
        with self._lock:
            user = self.find_user_by_email(email)
            return (None, None) if user is None else (user, self.enrolled_factors(user.id))

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        with self._lock:
            if user_id in self._users:
                self._users[user_id] = replace(self._users[user_id], password_hash=password_hash)

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
            return True

    # --- challenges ---
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

    # --- refresh tokens ---
    def add_refresh_token(self, token: RefreshToken) -> None:
        with self._lock:
            self._refresh[token.token_hash] = token

    def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        return self._refresh.get(token_hash)

    def claim_refresh_token(self, token_hash: str, now: datetime) -> RefreshToken | None:
        with self._lock:
            token = self._refresh.get(token_hash)
            if token is None or token.used_at or token.revoked_at or token.expires_at <= now:
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
        self, session: Session, first_token: RefreshToken, audits: Sequence[AuditEvent] = ()
    ) -> None:
        with self._lock:
            self._sessions[session.id] = session
            self._refresh[first_token.token_hash] = first_token
            self.append_audits(audits)

    def add_session_counted(
        self,
        session: Session,
        first_token: RefreshToken,
        audits: Sequence[AuditEvent],
        changes: Sequence[CounterChange],
        now: datetime,
        unless: Sequence[Unless] = (),
    ) -> bool:
        check_unlimited(changes)
        with self._lock:
            if self.change_counters(changes, now, unless).stopped:
                return False
            self.add_session(session, first_token, audits)
            return True

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

    def list_revocations(self, since: datetime) -> list[Revocation]:
        with self._lock:
            return [Revocation(sid, at) for sid, at in self._revocations.items() if at >= since]

    # --- messages ---
    def add_message(self, message: Message) -> None:
        with self._lock:
            self._messages.append(message)

    def anonymise_messages(self, user_id: str, author: str, pseudonym: str) -> int:
        with self._lock:
            mine = [i for i, m in enumerate(self._messages) if m.user_id == user_id]
            for index in mine:
                self._messages[index] = replace(self._messages[index], user_id=pseudonym, author=author)
            return len(mine)

    def list_messages(self, limit: int, cursor: str | None = None) -> Page[Message]:
        with self._lock:
            ordered = sorted(self._messages, key=lambda m: (m.created_at.timestamp(), m.id), reverse=True)
        if cursor:
            created, message_id = parse_message_cursor(cursor)
            ordered = [m for m in ordered if (m.created_at.timestamp(), m.id) < (created, message_id)]
        page = ordered[:limit]
        return Page(page, message_cursor(page[-1]) if len(ordered) > limit else None)

    # --- outbox ---
    def add_outbox(self, entry: OutboxEntry) -> None:
        with self._lock:
            self._outbox.append(entry)

    def list_outbox(self, to: str | None = None, last: int = 20) -> list[OutboxEntry]:
        with self._lock:
            matching = [e for e in self._outbox if to is None or e.to == to]
        return matching[-last:] if last > 0 else []

    # --- counters ---
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

    # --- prefix blocks ---
    def add_prefix_block(self, block: PrefixBlock) -> bool:
        with self._lock:
            current = self._blocks.get(block.prefix)
            if current is not None and current.until > block.blocked_at:
                return False
            self._blocks[block.prefix] = block
            return True

    def get_prefix_block(self, prefix: str, now: datetime) -> PrefixBlock | None:
        block = self._blocks.get(prefix)
        return block if block is not None and block.until > now else None

    def list_prefix_blocks(self, now: datetime) -> list[PrefixBlock]:
        with self._lock:
            return sorted((b for b in self._blocks.values() if b.until > now), key=lambda b: b.prefix)

    def delete_prefix_block(self, prefix: str) -> bool:
        with self._lock:
            return self._blocks.pop(prefix, None) is not None

    # --- audit ---
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
                "revocations": _drop(self._revocations, lambda at: at < rules.refresh_before, rules.limit),
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

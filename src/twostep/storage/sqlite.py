"""SQLite storage: one file, WAL, a connection per thread, every state change one conditional statement.

Times are stored as UNIX seconds (REAL) so comparisons happen in SQL. Uniqueness comes from UNIQUE
constraints, single use and attempt counting from `UPDATE … WHERE … RETURNING`, so no request ever
decides on a value it read earlier. Driver errors become `StorageUnavailable` (503), never a 500.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from twostep.domain.errors import AccountExists
from twostep.domain.factor_summary import EnrolledFactors
from twostep.domain.identity import E164
from twostep.domain.models import (
    AuditEvent,
    Challenge,
    EmailCollision,
    Message,
    OutboxEntry,
    Page,
    RefreshToken,
    User,
)
from twostep.domain.ports import Counter, KeyRecord, PurgeRules
from twostep.domain.receipts import Delivery
from twostep.storage.challenges_sql import ERASE_CHALLENGES_OF_USER, challenge_values
from twostep.storage.cursors import message_cursor, parse_message_cursor
from twostep.storage.deliveries_sql import values as delivery_values
from twostep.storage.outbox_sql import outbox_filter
from twostep.storage.purge_sql import purge_statements
from twostep.storage.sign_in_counts import CountsThenAccount
from twostep.storage.sql_accounts import (
    CHALLENGE_WITH_ACCOUNT,
    account_of,
    prove_phone_sql,
    prove_phone_values,
    unchanged_account_values,
    update_unchanged_sql,
)
from twostep.storage.sql_audit import insert_audits
from twostep.storage.sql_factor_summary import FIND_SIGNING_IN, enrolled
from twostep.storage.sqlite_blocks import SqlitePrefixBlocks
from twostep.storage.sqlite_connection import epoch, moment, moment_or_none
from twostep.storage.sqlite_counters import SqliteCounters
from twostep.storage.sqlite_deliveries import SQL as DELIVERY_SQL
from twostep.storage.sqlite_deliveries import SqliteDeliveries
from twostep.storage.sqlite_factors import SqliteFactors
from twostep.storage.sqlite_idempotency import SqliteIdempotency
from twostep.storage.sqlite_sessions import INSERT_TOKEN, SqliteSessionOps, token_row
from twostep.storage.sqlite_users import canonicalise_emails

CLAIM_REFRESH = (
    "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL"
    " AND revoked_at IS NULL AND expires_at > ? RETURNING *"
)
# With an idle lifetime: a token issued at or before the cutoff (its session idle since) is refused.
CLAIM_ACTIVE_REFRESH = CLAIM_REFRESH.replace(" RETURNING", " AND created_at > ? RETURNING")


PUT_CHALLENGE = (
    "INSERT OR REPLACE INTO challenges (id, purpose, subject, phone, code_hmac, created_at, expires_at,"
    " max_attempts, attempts, consumed_at, sends, last_sent_at, code_length, email, channel, credentials_tag)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# A sent code over a challenge already stored under its id (a reset's or an address claim's placeholder)
# keeps the wrong tries counted on it meanwhile: a fresh budget would tell the guesser a code went out.
STORE_SENT_CHALLENGE = (
    PUT_CHALLENGE.replace("INSERT OR REPLACE", "INSERT")
    + " ON CONFLICT (id) DO UPDATE SET purpose = excluded.purpose, subject = excluded.subject,"
    " phone = excluded.phone, code_hmac = excluded.code_hmac, created_at = excluded.created_at,"
    " expires_at = excluded.expires_at, max_attempts = excluded.max_attempts,"
    " attempts = attempts, consumed_at = excluded.consumed_at,"
    " sends = excluded.sends, last_sent_at = excluded.last_sent_at, code_length = excluded.code_length,"
    " email = excluded.email, channel = excluded.channel, credentials_tag = excluded.credentials_tag"
)


def challenge_row(c: Challenge) -> tuple[object, ...]:
    """`PUT_CHALLENGE`'s values."""
    return challenge_values(c, epoch)


_CHALLENGE_WITH_ACCOUNT = CHALLENGE_WITH_ACCOUNT.format(p="?")
SET_PASSWORD_HASH = update_unchanged_sql("password_hash = ?", "?", "IS")
PROVE_EMAIL = update_unchanged_sql("email = ?, email_verified = 1", "?", "IS")
ASSIGN_EMAIL = update_unchanged_sql("email = ?, email_verified = 0", "?", "IS")
RELEASE_EMAIL = update_unchanged_sql("email = ?", "?", "IS") + " AND email_verified = 0"
PROVE_PHONE = prove_phone_sql("?", "IS", locking=False)


class SqliteStorage(
    SqliteFactors,
    SqliteSessionOps,
    SqlitePrefixBlocks,
    SqliteDeliveries,
    SqliteIdempotency,
    SqliteCounters,
    CountsThenAccount,
):
    """Satisfies every storage port; safe to share between threads."""

    # --- users ---
    def add_user(self, user: User) -> None:
        try:
            cursor = self._execute(
                "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, created_at,"
                " phone_verified, email_verified, locale) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?"
                " WHERE NOT EXISTS (SELECT 1 FROM users WHERE phone = ? AND phone_verified = 1)",
                (
                    user.id,
                    user.email,
                    user.phone,
                    user.password_hash,
                    user.first_name,
                    user.last_name,
                    epoch(user.created_at),
                    int(user.phone_verified),
                    int(user.email_verified),
                    user.locale,
                    user.phone,
                ),
                unique=True,
            )
        except sqlite3.IntegrityError as exc:
            raise AccountExists() from exc
        if cursor.rowcount != 1:
            raise AccountExists()

    def prove_phone(self, account: User, phone: E164) -> bool:
        # One statement: the owner's row takes the number, other accounts' claims on it are dropped;
        # nothing changes when the account changed since `account` was read (or is gone), or another
        # account has proven the number.
        try:
            with self._guard(unique=True) as conn:
                self.statements += 1
                rows = conn.execute(PROVE_PHONE, prove_phone_values(account, phone, locking=False)).fetchall()
        except sqlite3.IntegrityError:
            return False  # another account proved this number first
        return any(row["id"] == account.id for row in rows)

    def prove_email(self, account: User, email: str) -> bool:
        return self._move_address(PROVE_EMAIL, account, email)

    def assign_email(self, account: User, email: str) -> bool:
        return self._move_address(ASSIGN_EMAIL, account, email)

    def _move_address(self, statement: str, account: User, email: str) -> bool:
        # One statement: the unique index on `email` refuses an address another account (a sign-up that
        # committed first included) has.
        try:
            moved = self._execute(statement, (email, *unchanged_account_values(account)), unique=True)
        except sqlite3.IntegrityError as exc:
            raise AccountExists() from exc
        return moved.rowcount == 1

    def release_email(self, account: User, placeholder: str) -> bool:
        # One statement: the unproven address goes only while the row is as `account`; a proof that
        # committed first leaves `email_verified` set, and this update then matches no row.
        released = self._execute(RELEASE_EMAIL, (placeholder, *unchanged_account_values(account)))
        return released.rowcount == 1

    @staticmethod
    def _user(row: sqlite3.Row | None) -> User | None:
        if row is None:
            return None
        return User(
            id=row["id"],
            email=row["email"],
            password_hash=row["password_hash"],
            created_at=moment(row["created_at"]),
            first_name=row["first_name"],
            last_name=row["last_name"],
            phone=row["phone"],
            phone_verified=bool(row["phone_verified"]),
            email_verified=bool(row["email_verified"]),
            locale=row["locale"],
        )

    def get_user(self, user_id: str) -> User | None:
        return self._user(self._one("SELECT * FROM users WHERE id = ?", (user_id,)))

    def find_user_by_email(self, email: str) -> User | None:
        return self._user(self._one("SELECT * FROM users WHERE email = ?", (email,)))

    def canonicalise_emails(self) -> list[EmailCollision]:
        with self._transaction() as conn:
            collisions = canonicalise_emails(conn)
        return collisions

    def find_user_signing_in(self, email: str) -> tuple[User | None, EnrolledFactors | None]:
        row = self._one(FIND_SIGNING_IN.format(p="?", id="users.id"), (email,))
        return (None, None) if row is None else (self._user(row), enrolled(row))

    def set_password_hash(self, account: User, password_hash: str) -> bool:
        update = (password_hash, *unchanged_account_values(account))
        return self._execute(SET_PASSWORD_HASH, update).rowcount == 1

    def set_user_locale(self, user_id: str, locale: str | None) -> bool:
        return self._execute("UPDATE users SET locale = ? WHERE id = ?", (locale, user_id)).rowcount == 1

    def list_users(self, limit: int, cursor: str | None = None) -> Page[User]:
        rows = self._all("SELECT * FROM users WHERE id > ? ORDER BY id LIMIT ?", (cursor or "", limit + 1))
        users = [user for user in map(self._user, rows[:limit]) if user is not None]
        return Page(users, users[-1].id if len(rows) > limit else None)

    def delete_user(self, user_id: str, now: datetime) -> bool:
        with self._transaction() as conn:
            deleted = conn.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount
            self._end_sessions_of(conn, user_id, now)
            self._erase_factors_of(conn, user_id)
            conn.execute(ERASE_CHALLENGES_OF_USER.replace("%s", "?"), (user_id,))
        return bool(deleted)

    # --- challenges ---
    @staticmethod
    def _challenge(row: sqlite3.Row | None) -> Challenge | None:
        if row is None:
            return None
        return Challenge(
            id=row["id"],
            purpose=row["purpose"],
            subject=row["subject"],
            phone=row["phone"],
            code_hmac=row["code_hmac"],
            created_at=moment(row["created_at"]),
            expires_at=moment(row["expires_at"]),
            max_attempts=row["max_attempts"],
            attempts=row["attempts"],
            consumed_at=moment_or_none(row["consumed_at"]),
            sends=row["sends"],
            last_sent_at=moment_or_none(row["last_sent_at"]),
            code_length=row["code_length"],
            email=row["email"],
            channel=row["channel"],
            credentials_tag=row["credentials_tag"],
        )

    def put_challenge(self, challenge: Challenge) -> None:
        self._execute(PUT_CHALLENGE, challenge_row(challenge))

    def get_challenge(self, challenge_id: str) -> Challenge | None:
        return self._challenge(self._one("SELECT * FROM challenges WHERE id = ?", (challenge_id,)))

    def get_challenge_with_account(self, challenge_id: str) -> tuple[Challenge | None, User | None]:
        row = self._one(_CHALLENGE_WITH_ACCOUNT, (challenge_id,))
        if row is None:
            return None, None
        account = account_of(row)
        return self._challenge(row), None if account is None else self._user(account)  # type: ignore[arg-type]

    def replace_code(
        self, challenge_id: str, code_hmac: str, expires_at: datetime, now: datetime, channel: str = "sms"
    ) -> Challenge | None:
        return self._challenge(
            self._one(
                "UPDATE challenges SET code_hmac = ?, expires_at = ?, last_sent_at = ?, sends = sends + 1,"
                " channel = ? WHERE id = ? AND consumed_at IS NULL RETURNING *",
                (code_hmac, epoch(expires_at), epoch(now), channel, challenge_id),
            )
        )

    def put_back_code(
        self, challenge_id: str, replaced_hmac: str, code_hmac: str, expires_at: datetime, channel: str
    ) -> bool:
        return (
            self._one(
                "UPDATE challenges SET code_hmac = ?, expires_at = ?, channel = ? WHERE id = ? AND code_hmac = ?"
                " AND consumed_at IS NULL RETURNING id",
                (code_hmac, epoch(expires_at), channel, challenge_id, replaced_hmac),
            )
            is not None
        )

    def arm_challenge_audited(self, challenge: Challenge, audits: Sequence[AuditEvent]) -> Challenge | None:
        # One write transaction instead of two: the events are inserted only when the UPDATE armed.
        with self._transaction() as conn:
            self.statements += 1  # one request: the transaction
            rows = conn.execute(
                "UPDATE challenges SET expires_at = ? WHERE id = ? AND code_hmac = ? AND consumed_at IS NULL"
                " RETURNING *",
                (epoch(challenge.expires_at), challenge.id, challenge.code_hmac),
            ).fetchall()
            if rows and audits:
                conn.execute(*insert_audits(audits, "?", epoch))
        return self._challenge(rows[0] if rows else None)

    def store_sent_challenge(
        self, challenge: Challenge, audits: Sequence[AuditEvent], delivery: Delivery | None = None
    ) -> None:
        with self._transaction() as conn:
            self.statements += 1  # one request: the transaction
            conn.execute(STORE_SENT_CHALLENGE, challenge_row(challenge))
            if delivery is not None:
                conn.execute(DELIVERY_SQL.add, delivery_values(delivery, epoch))
            if audits:
                conn.execute(*insert_audits(audits, "?", epoch))

    def count_attempt(self, challenge_id: str, now: datetime) -> Challenge | None:
        return self._challenge(
            self._one(
                "UPDATE challenges SET attempts = attempts + 1 WHERE id = ? AND consumed_at IS NULL"
                " AND expires_at > ? AND attempts < max_attempts RETURNING *",
                (challenge_id, epoch(now)),
            )
        )

    def attempt_challenge(self, challenge_id: str, now: datetime, consume_if: str | None) -> Challenge | None:
        return self._challenge(
            self._one(
                "UPDATE challenges SET attempts = attempts + 1,"
                " consumed_at = CASE WHEN code_hmac = ? THEN ? ELSE NULL END"
                " WHERE id = ? AND consumed_at IS NULL AND expires_at > ? AND attempts < max_attempts"
                " RETURNING *",
                (consume_if, epoch(now), challenge_id, epoch(now)),
            )
        )

    def consume_challenge(self, challenge_id: str, now: datetime) -> bool:
        cursor = self._execute(
            "UPDATE challenges SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL",
            (epoch(now), challenge_id),
        )
        return cursor.rowcount == 1

    def expire_challenge(self, challenge_id: str, now: datetime) -> None:
        self._execute(
            "UPDATE challenges SET expires_at = MIN(expires_at, ?) WHERE id = ?", (epoch(now), challenge_id)
        )

    # --- refresh tokens ---
    @staticmethod
    def _refresh(row: sqlite3.Row | None) -> RefreshToken | None:
        if row is None:
            return None
        return RefreshToken(
            token_hash=row["token_hash"],
            family_id=row["family_id"],
            user_id=row["user_id"],
            created_at=moment(row["created_at"]),
            expires_at=moment(row["expires_at"]),
            family_expires_at=moment(row["family_expires_at"]),
            amr=tuple(row["amr"].split(",")),
            used_at=moment_or_none(row["used_at"]),
            revoked_at=moment_or_none(row["revoked_at"]),
        )

    def add_refresh_token(self, token: RefreshToken) -> None:
        self._execute(INSERT_TOKEN, token_row(token))

    def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        return self._refresh(self._one("SELECT * FROM refresh_tokens WHERE token_hash = ?", (token_hash,)))

    def claim_refresh_token(
        self, token_hash: str, now: datetime, issued_after: datetime | None = None
    ) -> RefreshToken | None:
        if issued_after is None:
            return self._refresh(self._one(CLAIM_REFRESH, (epoch(now), token_hash, epoch(now))))
        return self._refresh(
            self._one(CLAIM_ACTIVE_REFRESH, (epoch(now), token_hash, epoch(now), epoch(issued_after)))
        )

    # --- messages ---
    def add_message(self, message: Message) -> None:
        m = message
        self._execute(
            "INSERT INTO messages (id, user_id, author, content, created_at) VALUES (?, ?, ?, ?, ?)",
            (m.id, m.user_id, m.author, m.content, epoch(m.created_at)),
        )

    def anonymise_messages(self, user_id: str, author: str, pseudonym: str) -> int:
        return self._execute(
            "UPDATE messages SET user_id = ?, author = ? WHERE user_id = ?", (pseudonym, author, user_id)
        ).rowcount

    def list_messages(self, limit: int, cursor: str | None = None) -> Page[Message]:
        if cursor:
            created, message_id = parse_message_cursor(cursor)
            # A row value, which SQLite bounds by the index: `created_at < ? OR (created_at = ? AND id < ?)`
            # stepped through every newer message to reach the cursor (70 ms a page deep in 200,000).
            rows = self._all(
                "SELECT * FROM messages WHERE (created_at, id) < (?, ?)"
                " ORDER BY created_at DESC, id DESC LIMIT ?",
                (created, message_id, limit + 1),
            )
        else:
            rows = self._all("SELECT * FROM messages ORDER BY created_at DESC, id DESC LIMIT ?", (limit + 1,))
        items = [
            Message(
                id=r["id"],
                user_id=r["user_id"],
                author=r["author"],
                content=r["content"],
                created_at=moment(r["created_at"]),
            )
            for r in rows[:limit]
        ]
        last = items[-1] if items else None
        next_cursor = message_cursor(last) if last and len(rows) > limit else None
        return Page(items, next_cursor)

    # --- outbox ---
    def add_outbox(self, entry: OutboxEntry) -> None:
        self._execute(
            "INSERT INTO outbox (to_number, body, sent_at, provider, channel) VALUES (?, ?, ?, ?, ?)",
            (entry.to, entry.body, epoch(entry.sent_at), entry.provider, entry.channel),
        )

    def list_outbox(
        self, to: str | None = None, last: int = 20, channel: str | None = None
    ) -> list[OutboxEntry]:
        where, values = outbox_filter(to, channel, "?")
        # Only this module's column names and the driver's placeholder go into the text.
        rows = self._all(f"SELECT * FROM outbox{where} ORDER BY seq DESC LIMIT ?", (*values, last))  # noqa: S608
        return [
            OutboxEntry(
                to=r["to_number"],
                body=r["body"],
                sent_at=moment(r["sent_at"]),
                provider=r["provider"],
                channel=r["channel"],
            )
            for r in reversed(rows)
        ]

    # --- counters ---
    def increment_counter(self, key: str, amount: int, now: datetime, expires_at: datetime) -> int:
        row = self._one(
            "INSERT INTO counters (key, value, expires_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET"
            " value = CASE WHEN expires_at <= ? THEN excluded.value ELSE value + excluded.value END,"
            " expires_at = CASE WHEN expires_at <= ? THEN excluded.expires_at ELSE expires_at END"
            " RETURNING value",
            (key, amount, epoch(expires_at), epoch(now), epoch(now)),
        )
        assert row is not None
        return int(row["value"])

    def get_counter(self, key: str, now: datetime) -> Counter | None:
        row = self._one(
            "SELECT value, expires_at FROM counters WHERE key = ? AND expires_at > ?", (key, epoch(now))
        )
        return None if row is None else Counter(int(row["value"]), moment(row["expires_at"]))

    def get_counters(self, keys: Sequence[str], now: datetime) -> dict[str, Counter]:
        if not keys:
            return {}
        marks = ", ".join("?" for _ in keys)
        rows = self._all(
            f"SELECT key, value, expires_at FROM counters WHERE key IN ({marks}) AND expires_at > ?",  # noqa: S608 (placeholders only)
            (*keys, epoch(now)),
        )
        return {str(r["key"]): Counter(int(r["value"]), moment(r["expires_at"])) for r in rows}

    def delete_counter(self, key: str) -> None:
        self._execute("DELETE FROM counters WHERE key = ?", (key,))

    # --- audit ---
    def append_audit(self, event: AuditEvent) -> None:
        self.append_audits((event,))

    def append_audits(self, events: Sequence[AuditEvent]) -> None:
        if not events:
            return
        self._execute(*insert_audits(events, "?", epoch))

    def pseudonymise_audit(self, user_id: str, pseudonym: str) -> int:
        return self._execute(
            "UPDATE audit SET user_id = ?, email_hash = NULL, phone_masked = NULL, ip = NULL WHERE user_id = ?",
            (pseudonym, user_id),
        ).rowcount

    def list_audit(self, user_id: str | None = None, limit: int = 50) -> list[AuditEvent]:
        if user_id is None:
            rows = self._all("SELECT * FROM audit ORDER BY seq DESC LIMIT ?", (limit,))
        else:
            rows = self._all(
                "SELECT * FROM audit WHERE user_id = ? ORDER BY seq DESC LIMIT ?", (user_id, limit)
            )
        return [
            AuditEvent(
                event=r["event"],
                at=moment(r["at"]),
                user_id=r["user_id"],
                email_hash=r["email_hash"],
                phone_masked=r["phone_masked"],
                ip=r["ip"],
                request_id=r["request_id"],
                detail=json.loads(r["detail"]),
            )
            for r in reversed(rows)
        ]

    # --- shared keys ---
    def get_key_record(self) -> KeyRecord | None:
        row = self._one("SELECT * FROM key_record WHERE name = 'keys'")
        if row is None:
            return None
        return KeyRecord(row["version"], row["sealed"], row["master_key_id"], moment(row["updated_at"]))

    def put_key_record(self, record: KeyRecord, replaces: int | None) -> bool:
        values = (record.version, record.sealed, record.master_key_id, epoch(record.updated_at))
        if replaces is None:
            cursor = self._execute(
                "INSERT INTO key_record (name, version, sealed, master_key_id, updated_at)"
                " VALUES ('keys', ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                values,
            )
        else:
            cursor = self._execute(
                "UPDATE key_record SET version = ?, sealed = ?, master_key_id = ?, updated_at = ?"
                " WHERE name = 'keys' AND version = ?",
                (*values, replaces),
            )
        return cursor.rowcount == 1

    # --- housekeeping ---
    expired_by_backend: frozenset[str] = frozenset()

    def purge_expired(self, rules: PurgeRules) -> dict[str, int]:
        deleted = {}
        for kind, sql, times, cutoff in purge_statements(rules, "?"):
            deleted[kind] = self._execute(sql, (*[epoch(cutoff)] * times, rules.limit)).rowcount
        return deleted

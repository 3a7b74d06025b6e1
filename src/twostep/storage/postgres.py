"""PostgreSQL storage: every state change one conditional statement, so many processes can share it.

Uniqueness comes from UNIQUE constraints, single use and attempt counting from `UPDATE … WHERE …
RETURNING` (under READ COMMITTED a second writer waits for the row lock, then re-checks the WHERE on
the new row), counters from `INSERT … ON CONFLICT DO UPDATE`. No request decides on a value it read
earlier. Driver errors become `StorageUnavailable` (503), never a 500.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from psycopg.types.json import Jsonb

from twostep.domain.errors import AccountExists
from twostep.domain.identity import E164
from twostep.domain.models import AuditEvent, Challenge, Message, OutboxEntry, Page, RefreshToken, User
from twostep.domain.ports import Counter
from twostep.settings import Settings
from twostep.storage.cursors import message_cursor, parse_message_cursor
from twostep.storage.postgres_blocks import PostgresPrefixBlocks
from twostep.storage.postgres_connection import Row
from twostep.storage.postgres_upkeep import PostgresUpkeep

CHALLENGE_COLUMNS = (
    "id, purpose, subject, phone, code_hmac, created_at, expires_at, max_attempts, attempts, consumed_at,"
    " sends, last_sent_at, code_length, email"
)
REFRESH_COLUMNS = (
    "token_hash, family_id, user_id, created_at, expires_at, family_expires_at, amr, used_at, revoked_at"
)


def _user(row: Row | None) -> User | None:
    if row is None:
        return None
    return User(
        id=row["id"],
        email=row["email"],
        password_hash=row["password_hash"],
        created_at=row["created_at"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        phone=None if row["phone"] is None else E164(row["phone"]),
        phone_verified=row["phone_verified"],
        email_verified=row["email_verified"],
    )


def _challenge(row: Row | None) -> Challenge | None:
    if row is None:
        return None
    return Challenge(
        **{key: row[key] for key in CHALLENGE_COLUMNS.split(", ")} | {"phone": E164(row["phone"])}
    )


def _refresh(row: Row | None) -> RefreshToken | None:
    if row is None:
        return None
    return RefreshToken(**{key: row[key] for key in REFRESH_COLUMNS.split(", ")} | {"amr": tuple(row["amr"])})


class PostgresStorage(PostgresUpkeep, PostgresPrefixBlocks):
    """Satisfies every storage port; safe to share between threads and between processes."""

    @classmethod
    def from_settings(cls, settings: Settings) -> PostgresStorage:
        """The storage for `TWOSTEP_DATABASE_URL` (checked present by the settings when chosen)."""
        assert settings.database_url is not None
        url = settings.database_url.get_secret_value()
        return cls(
            url, pool_size=settings.database_pool_size, timeout_seconds=settings.database_timeout_seconds
        )

    # --- users ---
    def add_user(self, user: User) -> None:
        u = user
        try:
            with self._guard(unique=True) as conn, conn.transaction():
                self._lock_phone(conn, u.phone)
                added = self._run(
                    conn,
                    "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, created_at,"
                    " phone_verified, email_verified) SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s"
                    " WHERE NOT EXISTS (SELECT 1 FROM users WHERE phone = %s AND phone_verified)",
                    (
                        u.id,
                        u.email,
                        u.phone,
                        u.password_hash,
                        u.first_name,
                        u.last_name,
                        u.created_at,
                        u.phone_verified,
                        u.email_verified,
                        u.phone,
                    ),
                ).rowcount
        except psycopg.errors.UniqueViolation as exc:
            raise AccountExists() from exc
        if added != 1:
            raise AccountExists()

    def _lock_phone(self, conn: psycopg.Connection[Row], phone: str | None) -> None:
        """Serialise, per number, a new claim against a proof: without it a claim made while another
        account proves the number could survive the proof (READ COMMITTED sees no uncommitted proof)."""
        if phone is not None:
            self._run(conn, "SELECT pg_advisory_xact_lock(hashtextextended(%s, 7))", (phone,))

    def prove_phone(self, user_id: str, phone: E164) -> bool:
        try:
            with self._guard(unique=True) as conn, conn.transaction():
                self._lock_phone(conn, phone)
                proven = self._run(
                    conn, "UPDATE users SET phone = %s, phone_verified = true WHERE id = %s", (phone, user_id)
                ).rowcount
                if proven:
                    self._run(
                        conn,
                        "UPDATE users SET phone = NULL, phone_verified = false WHERE phone = %s AND id <> %s",
                        (phone, user_id),
                    )
        except psycopg.errors.UniqueViolation:
            return False  # another account proved this number first; the transaction rolled back
        return bool(proven)

    def prove_email(self, user_id: str, email: str) -> None:
        try:
            self._execute(
                "UPDATE users SET email = %s, email_verified = true WHERE id = %s",
                (email, user_id),
                unique=True,
            )
        except psycopg.errors.UniqueViolation as exc:
            raise AccountExists() from exc

    def get_user(self, user_id: str) -> User | None:
        return _user(self._one("SELECT * FROM users WHERE id = %s", (user_id,)))

    def find_user_by_email(self, email: str) -> User | None:
        return _user(self._one("SELECT * FROM users WHERE email = %s", (email,)))

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        self._execute("UPDATE users SET password_hash = %s WHERE id = %s", (password_hash, user_id))

    def list_users(self, limit: int, cursor: str | None = None) -> Page[User]:
        rows = self._all("SELECT * FROM users WHERE id > %s ORDER BY id LIMIT %s", (cursor or "", limit + 1))
        users = [user for user in map(_user, rows[:limit]) if user is not None]
        return Page(users, users[-1].id if len(rows) > limit else None)

    def delete_user(self, user_id: str, now: datetime) -> bool:
        with self._guard() as conn, conn.transaction():
            deleted = self._run(conn, "DELETE FROM users WHERE id = %s", (user_id,)).rowcount
            self._run(
                conn,
                "UPDATE refresh_tokens SET revoked_at = %s WHERE user_id = %s AND revoked_at IS NULL",
                (now, user_id),
            )
        return deleted > 0

    # --- challenges ---
    def put_challenge(self, challenge: Challenge) -> None:
        c = challenge
        self._execute(
            "INSERT INTO challenges (id, purpose, subject, phone, code_hmac, created_at, expires_at,"
            " max_attempts, attempts, consumed_at, sends, last_sent_at, code_length, email)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO UPDATE SET purpose = EXCLUDED.purpose, subject = EXCLUDED.subject,"
            " phone = EXCLUDED.phone, code_hmac = EXCLUDED.code_hmac, created_at = EXCLUDED.created_at,"
            " expires_at = EXCLUDED.expires_at, max_attempts = EXCLUDED.max_attempts,"
            " attempts = EXCLUDED.attempts, consumed_at = EXCLUDED.consumed_at, sends = EXCLUDED.sends,"
            " last_sent_at = EXCLUDED.last_sent_at, code_length = EXCLUDED.code_length, email = EXCLUDED.email",
            (
                c.id,
                c.purpose,
                c.subject,
                c.phone,
                c.code_hmac,
                c.created_at,
                c.expires_at,
                c.max_attempts,
                c.attempts,
                c.consumed_at,
                c.sends,
                c.last_sent_at,
                c.code_length,
                c.email,
            ),
        )

    def get_challenge(self, challenge_id: str) -> Challenge | None:
        return _challenge(self._one("SELECT * FROM challenges WHERE id = %s", (challenge_id,)))

    def replace_code(
        self, challenge_id: str, code_hmac: str, expires_at: datetime, now: datetime
    ) -> Challenge | None:
        return _challenge(
            self._one(
                "UPDATE challenges SET code_hmac = %s, expires_at = %s, last_sent_at = %s, sends = sends + 1"
                " WHERE id = %s AND consumed_at IS NULL RETURNING *",
                (code_hmac, expires_at, now, challenge_id),
            )
        )

    def arm_challenge(self, challenge_id: str, code_hmac: str, expires_at: datetime) -> Challenge | None:
        return _challenge(
            self._one(
                "UPDATE challenges SET expires_at = %s WHERE id = %s AND code_hmac = %s"
                " AND consumed_at IS NULL RETURNING *",
                (expires_at, challenge_id, code_hmac),
            )
        )

    def count_attempt(self, challenge_id: str, now: datetime) -> Challenge | None:
        return _challenge(
            self._one(
                "UPDATE challenges SET attempts = attempts + 1 WHERE id = %s AND consumed_at IS NULL"
                " AND expires_at > %s AND attempts < max_attempts RETURNING *",
                (challenge_id, now),
            )
        )

    def consume_challenge(self, challenge_id: str, now: datetime) -> bool:
        changed = self._execute(
            "UPDATE challenges SET consumed_at = %s WHERE id = %s AND consumed_at IS NULL",
            (now, challenge_id),
        )
        return changed == 1

    def expire_challenge(self, challenge_id: str, now: datetime) -> None:
        self._execute(
            "UPDATE challenges SET expires_at = LEAST(expires_at, %s) WHERE id = %s", (now, challenge_id)
        )

    # --- refresh tokens ---
    def add_refresh_token(self, token: RefreshToken) -> None:
        t = token
        self._execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at,"
            " family_expires_at, amr, used_at, revoked_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                t.token_hash,
                t.family_id,
                t.user_id,
                t.created_at,
                t.expires_at,
                t.family_expires_at,
                list(t.amr),
                t.used_at,
                t.revoked_at,
            ),
        )

    def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        return _refresh(self._one("SELECT * FROM refresh_tokens WHERE token_hash = %s", (token_hash,)))

    def claim_refresh_token(self, token_hash: str, now: datetime) -> RefreshToken | None:
        return _refresh(
            self._one(
                "UPDATE refresh_tokens SET used_at = %s WHERE token_hash = %s AND used_at IS NULL"
                " AND revoked_at IS NULL AND expires_at > %s RETURNING *",
                (now, token_hash, now),
            )
        )

    def revoke_family(self, family_id: str, now: datetime) -> None:
        self._execute(
            "UPDATE refresh_tokens SET revoked_at = %s WHERE family_id = %s AND revoked_at IS NULL",
            (now, family_id),
        )

    def revoke_user_tokens(self, user_id: str, now: datetime) -> None:
        self._execute(
            "UPDATE refresh_tokens SET revoked_at = %s WHERE user_id = %s AND revoked_at IS NULL",
            (now, user_id),
        )

    # --- messages ---
    def add_message(self, message: Message) -> None:
        m = message
        self._execute(
            "INSERT INTO messages (id, user_id, author, content, created_at) VALUES (%s, %s, %s, %s, %s)",
            (m.id, m.user_id, m.author, m.content, m.created_at),
        )

    def list_messages(self, limit: int, cursor: str | None = None) -> Page[Message]:
        if cursor:
            seconds, message_id = parse_message_cursor(cursor)
            created = datetime.fromtimestamp(seconds, tz=UTC)  # exact to the microsecond it was made from
            rows = self._all(
                "SELECT * FROM messages WHERE (created_at, id) < (%s, %s)"
                " ORDER BY created_at DESC, id DESC LIMIT %s",
                (created, message_id, limit + 1),
            )
        else:
            rows = self._all(
                "SELECT * FROM messages ORDER BY created_at DESC, id DESC LIMIT %s", (limit + 1,)
            )
        items = [Message(**row) for row in rows[:limit]]
        last = items[-1] if items else None
        return Page(items, message_cursor(last) if last and len(rows) > limit else None)

    # --- outbox ---
    def add_outbox(self, entry: OutboxEntry) -> None:
        self._execute(
            "INSERT INTO outbox (to_number, body, sent_at, provider) VALUES (%s, %s, %s, %s)",
            (entry.to, entry.body, entry.sent_at, entry.provider),
        )

    def list_outbox(self, to: str | None = None, last: int = 20) -> list[OutboxEntry]:
        if to is None:
            rows = self._all("SELECT * FROM outbox ORDER BY seq DESC LIMIT %s", (last,))
        else:
            rows = self._all(
                "SELECT * FROM outbox WHERE to_number = %s ORDER BY seq DESC LIMIT %s", (to, last)
            )
        return [
            OutboxEntry(to=r["to_number"], body=r["body"], sent_at=r["sent_at"], provider=r["provider"])
            for r in reversed(rows)
        ]

    # --- counters ---
    def increment_counter(self, key: str, amount: int, now: datetime, expires_at: datetime) -> int:
        row = self._one(
            "INSERT INTO counters AS c (key, value, expires_at) VALUES (%s, %s, %s)"
            " ON CONFLICT (key) DO UPDATE SET"
            " value = CASE WHEN c.expires_at <= %s THEN EXCLUDED.value ELSE c.value + EXCLUDED.value END,"
            " expires_at = CASE WHEN c.expires_at <= %s THEN EXCLUDED.expires_at ELSE c.expires_at END"
            " RETURNING value",
            (key, amount, expires_at, now, now),
        )
        assert row is not None
        return int(row["value"])

    def get_counter(self, key: str, now: datetime) -> Counter | None:
        row = self._one(
            "SELECT value, expires_at FROM counters WHERE key = %s AND expires_at > %s", (key, now)
        )
        return None if row is None else Counter(int(row["value"]), row["expires_at"])

    def delete_counter(self, key: str) -> None:
        self._execute("DELETE FROM counters WHERE key = %s", (key,))

    # --- audit ---
    def append_audit(self, event: AuditEvent) -> None:
        e = event
        self._execute(
            "INSERT INTO audit (event, at, user_id, email_hash, phone_masked, ip, request_id, detail)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (e.event, e.at, e.user_id, e.email_hash, e.phone_masked, e.ip, e.request_id, Jsonb(e.detail)),
        )

    def list_audit(self, user_id: str | None = None, limit: int = 50) -> list[AuditEvent]:
        if user_id is None:
            rows = self._all("SELECT * FROM audit ORDER BY seq DESC LIMIT %s", (limit,))
        else:
            rows = self._all(
                "SELECT * FROM audit WHERE user_id = %s ORDER BY seq DESC LIMIT %s", (user_id, limit)
            )
        return [
            AuditEvent(**{key: value for key, value in r.items() if key != "seq"}) for r in reversed(rows)
        ]

"""PostgreSQL storage: every state change one conditional statement, so many processes can share it.

Users live in postgres_users.py, sessions in postgres_sessions.py. Uniqueness comes from UNIQUE
constraints, single use and attempt counting from `UPDATE … WHERE …
RETURNING` (under READ COMMITTED a second writer waits for the row lock, then re-checks the WHERE on
the new row), counters from `INSERT … ON CONFLICT DO UPDATE`. No request decides on a value it read
earlier. Driver errors become `StorageUnavailable` (503), never a 500.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from psycopg.types.json import Jsonb

from twostep.domain.identity import E164
from twostep.domain.models import AuditEvent, Challenge, Message, OutboxEntry, Page, RefreshToken, User
from twostep.domain.ports import Counter
from twostep.domain.receipts import Delivery
from twostep.settings import Settings
from twostep.storage.challenges_sql import challenge_values
from twostep.storage.cursors import message_cursor, parse_message_cursor
from twostep.storage.deliveries_sql import values as delivery_values
from twostep.storage.outbox_sql import outbox_filter
from twostep.storage.postgres_blocks import PostgresPrefixBlocks
from twostep.storage.postgres_connection import Row, as_is
from twostep.storage.postgres_counters import PostgresCounters
from twostep.storage.postgres_deliveries import SQL as DELIVERY_SQL
from twostep.storage.postgres_deliveries import PostgresDeliveries
from twostep.storage.postgres_factors import PostgresFactors
from twostep.storage.postgres_idempotency import PostgresIdempotency
from twostep.storage.postgres_sessions import INSERT_REFRESH, refresh_row
from twostep.storage.postgres_sign_in import PostgresSignInCounts
from twostep.storage.postgres_upkeep import PostgresUpkeep
from twostep.storage.postgres_users import PostgresUsers, user_of
from twostep.storage.sql_accounts import CHALLENGE_WITH_ACCOUNT, account_of
from twostep.storage.sql_audit import insert_audits, insert_audits_if_armed

CLAIM_REFRESH = (
    "UPDATE refresh_tokens SET used_at = %s WHERE token_hash = %s AND used_at IS NULL"
    " AND revoked_at IS NULL AND expires_at > %s RETURNING *"
)
# With an idle lifetime: a token issued at or before the cutoff (its session idle since) is refused.
CLAIM_ACTIVE_REFRESH = CLAIM_REFRESH.replace(" RETURNING", " AND created_at > %s RETURNING")


CHALLENGE_COLUMNS = (
    "id, purpose, subject, phone, code_hmac, created_at, expires_at, max_attempts, attempts, consumed_at,"
    " sends, last_sent_at, code_length, email, channel, credentials_tag"
)
PUT_CHALLENGE = (
    f"INSERT INTO challenges ({CHALLENGE_COLUMNS})"  # noqa: S608 (column names only)
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (id) DO UPDATE SET purpose = EXCLUDED.purpose, subject = EXCLUDED.subject,"
    " phone = EXCLUDED.phone, code_hmac = EXCLUDED.code_hmac, created_at = EXCLUDED.created_at,"
    " expires_at = EXCLUDED.expires_at, max_attempts = EXCLUDED.max_attempts,"
    " attempts = EXCLUDED.attempts, consumed_at = EXCLUDED.consumed_at, sends = EXCLUDED.sends,"
    " last_sent_at = EXCLUDED.last_sent_at, code_length = EXCLUDED.code_length, email = EXCLUDED.email,"
    " channel = EXCLUDED.channel, credentials_tag = EXCLUDED.credentials_tag"
)
# A sent code over a challenge already stored under its id (a reset's or an address claim's placeholder)
# keeps the wrong tries counted on it meanwhile: a fresh budget would tell the guesser a code went out.
STORE_SENT_CHALLENGE = PUT_CHALLENGE.replace(
    "attempts = EXCLUDED.attempts, consumed_at", "attempts = challenges.attempts, consumed_at"
)
REFRESH_COLUMNS = (
    "token_hash, family_id, user_id, created_at, expires_at, family_expires_at, amr, used_at, revoked_at"
)


def _challenge(row: Row | None) -> Challenge | None:
    if row is None:
        return None
    return Challenge(
        **{key: row[key] for key in CHALLENGE_COLUMNS.split(", ")} | {"phone": E164(row["phone"])}
    )


def challenge_row(c: Challenge) -> tuple[object, ...]:
    """`PUT_CHALLENGE`'s values (psycopg stores each datetime as it is)."""
    return challenge_values(c, as_is)


def _refresh(row: Row | None) -> RefreshToken | None:
    if row is None:
        return None
    return RefreshToken(**{key: row[key] for key in REFRESH_COLUMNS.split(", ")} | {"amr": tuple(row["amr"])})


class PostgresStorage(
    PostgresSignInCounts,
    PostgresFactors,
    PostgresUsers,
    PostgresUpkeep,
    PostgresPrefixBlocks,
    PostgresDeliveries,
    PostgresIdempotency,
    PostgresCounters,
):
    """Satisfies every storage port; safe to share between threads and between processes."""

    @classmethod
    def from_settings(cls, settings: Settings) -> PostgresStorage:
        """The storage for `TWOSTEP_DATABASE_URL` (checked present by the settings when chosen)."""
        assert settings.database_url is not None
        url = settings.database_url.get_secret_value()
        return cls(
            url, pool_size=settings.database_pool_size, timeout_seconds=settings.database_timeout_seconds
        )

    # --- challenges ---
    def put_challenge(self, challenge: Challenge) -> None:
        self._execute(PUT_CHALLENGE, challenge_row(challenge))

    def get_challenge(self, challenge_id: str) -> Challenge | None:
        return _challenge(self._one("SELECT * FROM challenges WHERE id = %s", (challenge_id,)))

    def get_challenge_with_account(self, challenge_id: str) -> tuple[Challenge | None, User | None]:
        row = self._one(CHALLENGE_WITH_ACCOUNT.format(p="%s"), (challenge_id,))
        if row is None:
            return None, None
        account = account_of(row)
        return _challenge(row), None if account is None else user_of(account)  # type: ignore[arg-type]

    def replace_code(
        self, challenge_id: str, code_hmac: str, expires_at: datetime, now: datetime, channel: str = "sms"
    ) -> Challenge | None:
        return _challenge(
            self._one(
                "UPDATE challenges SET code_hmac = %s, expires_at = %s, last_sent_at = %s, sends = sends + 1,"
                " channel = %s WHERE id = %s AND consumed_at IS NULL RETURNING *",
                (code_hmac, expires_at, now, channel, challenge_id),
            )
        )

    def put_back_code(
        self, challenge_id: str, replaced_hmac: str, code_hmac: str, expires_at: datetime, channel: str
    ) -> bool:
        return (
            self._one(
                "UPDATE challenges SET code_hmac = %s, expires_at = %s, channel = %s WHERE id = %s"
                " AND code_hmac = %s AND consumed_at IS NULL RETURNING id",
                (code_hmac, expires_at, channel, challenge_id, replaced_hmac),
            )
            is not None
        )

    def arm_challenge_audited(self, challenge: Challenge, audits: Sequence[AuditEvent]) -> Challenge | None:
        # One statement (one round trip, atomic): the events are inserted by a data-modifying WITH query
        # that reads the UPDATE's RETURNING, so they are stored only when the code armed.
        sql = (
            "WITH armed AS (UPDATE challenges SET expires_at = %s WHERE id = %s AND code_hmac = %s"
            " AND consumed_at IS NULL RETURNING *)"
        )
        params: list[object] = [challenge.expires_at, challenge.id, challenge.code_hmac]
        if audits:
            events, values = insert_audits_if_armed(audits, Jsonb)
            sql += f", a AS ({events})"
            params += values
        return _challenge(self._one(f"{sql} SELECT * FROM armed", params))  # noqa: S608 (placeholders only)

    def store_sent_challenge(
        self, challenge: Challenge, audits: Sequence[AuditEvent], delivery: Delivery | None = None
    ) -> None:
        # One statement (one round trip, atomic): data-modifying WITH queries run whether or not the
        # final SELECT reads them.
        sql, params = f"WITH c AS ({STORE_SENT_CHALLENGE})", list(challenge_row(challenge))
        if delivery is not None:
            sql += f", d AS ({DELIVERY_SQL.add})"
            params += delivery_values(delivery, as_is)
        if audits:
            events, values = insert_audits(audits, "%s", as_is, Jsonb)
            sql += f", a AS ({events})"
            params += values
        self._execute(f"{sql} SELECT 1", params)

    def count_attempt(self, challenge_id: str, now: datetime) -> Challenge | None:
        return _challenge(
            self._one(
                "UPDATE challenges SET attempts = attempts + 1 WHERE id = %s AND consumed_at IS NULL"
                " AND expires_at > %s AND attempts < max_attempts RETURNING *",
                (challenge_id, now),
            )
        )

    def attempt_challenge(self, challenge_id: str, now: datetime, consume_if: str | None) -> Challenge | None:
        return _challenge(
            self._one(
                "UPDATE challenges SET attempts = attempts + 1,"
                " consumed_at = CASE WHEN code_hmac = %s::text THEN %s::timestamptz ELSE NULL END"
                " WHERE id = %s AND consumed_at IS NULL AND expires_at > %s AND attempts < max_attempts"
                " RETURNING *",
                (consume_if, now, challenge_id, now),
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
        self._execute(INSERT_REFRESH, refresh_row(token))

    def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        return _refresh(self._one("SELECT * FROM refresh_tokens WHERE token_hash = %s", (token_hash,)))

    def claim_refresh_token(
        self, token_hash: str, now: datetime, issued_after: datetime | None = None
    ) -> RefreshToken | None:
        if issued_after is None:
            return _refresh(self._one(CLAIM_REFRESH, (now, token_hash, now)))
        return _refresh(self._one(CLAIM_ACTIVE_REFRESH, (now, token_hash, now, issued_after)))

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
            "INSERT INTO outbox (to_number, body, sent_at, provider, channel) VALUES (%s, %s, %s, %s, %s)",
            (entry.to, entry.body, entry.sent_at, entry.provider, entry.channel),
        )

    def list_outbox(
        self, to: str | None = None, last: int = 20, channel: str | None = None
    ) -> list[OutboxEntry]:
        where, values = outbox_filter(to, channel, "%s")
        # Only this module's column names and the driver's placeholder go into the text.
        rows = self._all(f"SELECT * FROM outbox{where} ORDER BY seq DESC LIMIT %s", (*values, last))  # noqa: S608
        return [
            OutboxEntry(
                to=r["to_number"],
                body=r["body"],
                sent_at=r["sent_at"],
                provider=r["provider"],
                channel=r["channel"],
            )
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

    def get_counters(self, keys: Sequence[str], now: datetime) -> dict[str, Counter]:
        if not keys:
            return {}
        rows = self._all(
            "SELECT key, value, expires_at FROM counters WHERE key = ANY(%s) AND expires_at > %s",
            (list(keys), now),
        )
        return {str(r["key"]): Counter(int(r["value"]), r["expires_at"]) for r in rows}

    def delete_counter(self, key: str) -> None:
        self._execute("DELETE FROM counters WHERE key = %s", (key,))

    # --- audit ---
    def append_audit(self, event: AuditEvent) -> None:
        self.append_audits((event,))

    def append_audits(self, events: Sequence[AuditEvent]) -> None:
        if not events:
            return
        self._execute(*insert_audits(events, "%s", lambda at: at, Jsonb))

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

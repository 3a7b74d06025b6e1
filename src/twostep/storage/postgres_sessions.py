"""Sessions, the revocation list and account erasure in PostgreSQL (mixed into `PostgresStorage`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache

import psycopg
from psycopg.types.json import Jsonb

from twostep.domain.counter_batch import CounterChange, Unless, check_unlimited
from twostep.domain.models import AuditEvent, CodeUse, Page, RefreshToken, Revocation, Session, User
from twostep.storage.challenges_sql import use_code_sql, use_code_values
from twostep.storage.cursors import parse_message_cursor, session_cursor
from twostep.storage.postgres_connection import PostgresConnections, Row
from twostep.storage.postgres_counters import counter_source_parameters, upsert_counters
from twostep.storage.sql_accounts import unchanged_account_sql, unchanged_account_values
from twostep.storage.sql_audit import insert_audits

SESSION_COLUMNS = "id, user_id, created_at, expires_at, auth_time, amr, last_used_at, client, ip, revoked_at"
INSERT_REFRESH = (
    "INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at,"
    " family_expires_at, amr, used_at, revoked_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)

LIVE_SESSIONS = (
    "SELECT * FROM sessions WHERE user_id = %s AND revoked_at IS NULL AND expires_at > %s"
    " ORDER BY created_at DESC, id DESC LIMIT %s"
)
LIVE_SESSIONS_AFTER = (
    "SELECT * FROM sessions WHERE user_id = %s AND revoked_at IS NULL AND expires_at > %s"
    " AND (created_at, id) < (%s, %s) ORDER BY created_at DESC, id DESC LIMIT %s"
)
END_SESSIONS = (
    "WITH ended AS (UPDATE sessions SET revoked_at = %s WHERE user_id = %s AND revoked_at IS NULL"
    " AND expires_at > %s AND id IS DISTINCT FROM %s::text RETURNING id),"
    " listed AS (INSERT INTO revocations (session_id, revoked_at) SELECT id, %s FROM ended"
    " ON CONFLICT (session_id) DO UPDATE SET revoked_at = excluded.revoked_at),"
    " tokens AS (UPDATE refresh_tokens SET revoked_at = %s WHERE revoked_at IS NULL"
    " AND family_id IN (SELECT id FROM ended))"
    " SELECT id FROM ended"
)


def refresh_row(t: RefreshToken) -> tuple[object, ...]:
    return (
        t.token_hash,
        t.family_id,
        t.user_id,
        t.created_at,
        t.expires_at,
        t.family_expires_at,
        list(t.amr),
        t.used_at,
        t.revoked_at,
    )


@cache
def guarded_refresh_insert(*queries: str) -> str:
    """The refresh token's INSERT, its key NULL (refused, so the statement fails having changed nothing)
    unless each WITH query of `queries` yields a row: `counted` (the counters' upsert wrote its rows),
    `used` (the challenge's UPDATE changed its row), `unchanged` (the account as the sign-in checked it)."""
    if not queries:
        return INSERT_REFRESH
    held = " AND ".join(f"EXISTS (SELECT 1 FROM {query})" for query in queries)  # noqa: S608 (constants)
    return INSERT_REFRESH.replace("VALUES (%s,", f"VALUES (CASE WHEN {held} THEN %s::text END,", 1)


USE_CODE = f"used AS ({use_code_sql('%s')} RETURNING 1)"
# FOR SHARE: a password, number or address change waits for this statement's commit (and then ends the
# session with the others), or, committed first, leaves no row (the lock reads the row's newest version).
UNCHANGED = f"unchanged AS ({unchanged_account_sql('%s', 'IS NOT DISTINCT FROM')} FOR SHARE)"


def _session_parts(
    session: Session, audits: Sequence[AuditEvent], unchanged: User | None
) -> tuple[list[str], list[object]]:
    """The WITH queries writing the session and the step's audit events (and reading the account as the
    sign-in checked it), and their parameters."""
    s = session
    parts = [
        "s AS (INSERT INTO sessions (id, user_id, created_at, expires_at, auth_time, amr, last_used_at,"
        " client, ip, revoked_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s))"
    ]
    params: list[object] = [
        s.id,
        s.user_id,
        s.created_at,
        s.expires_at,
        s.auth_time,
        list(s.amr),
        s.last_used_at,
        s.client,
        s.ip,
        s.revoked_at,
    ]
    if audits:
        sql, values = insert_audits(audits, "%s", lambda at: at, Jsonb)
        parts.append(f"a AS ({sql})")
        params += values
    if unchanged is not None:
        parts.append(UNCHANGED)
        params += unchanged_account_values(unchanged)
    return parts, params


def _session(row: Row | None) -> Session | None:
    if row is None:
        return None
    return Session(**{key: row[key] for key in SESSION_COLUMNS.split(", ")} | {"amr": tuple(row["amr"])})


class PostgresSessionOps(PostgresConnections):
    def add_session(
        self,
        session: Session,
        first_token: RefreshToken,
        audits: Sequence[AuditEvent] = (),
        unchanged: User | None = None,
    ) -> bool:
        # One statement (one round trip, atomic): the session and the step's audit events are written
        # by data-modifying WITH queries of the refresh token's INSERT.
        parts, params = _session_parts(session, audits, unchanged)
        if unchanged is None:
            self._execute(f"WITH {', '.join(parts)} {INSERT_REFRESH}", [*params, *refresh_row(first_token)])
            return True
        return self._guarded(
            f"WITH {', '.join(parts)} {guarded_refresh_insert('unchanged')}",
            [*params, *refresh_row(first_token)],
        )

    def _guarded(self, sql: str, params: Sequence[object]) -> bool:
        """Run a `guarded_refresh_insert` statement: False when a guard held it back (nothing changed)."""
        with self._guard() as conn:
            try:
                self._run(conn, sql, params)
            except psycopg.errors.NotNullViolation:
                return False
        return True

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
        # One statement: the counters' upsert, which yields no row while an `unless` holds, is one more
        # WITH query (and so is a code's use, which changes no row when the challenge cannot be used);
        # then the token's key is NULL, which its column refuses, and the statement fails having changed
        # nothing (PostgreSQL logs that error: it takes a locked account's right code).
        check_unlimited(changes)
        restart = [c.key for c in changes if c.restart]
        counted = [*counter_source_parameters(changes, now, unless), now, restart, now, restart]
        parts, params = _session_parts(session, audits, unchanged)
        guards = ["counted"] if unchanged is None else ["counted", "unchanged"]
        if consuming is not None:
            parts.append(USE_CODE)
            params += use_code_values(consuming, lambda at: at)
            guards.append("used")
        sql = f"WITH counted AS ({upsert_counters(len(changes), unless)}), {', '.join(parts)}"
        return self._guarded(
            f"{sql} {guarded_refresh_insert(*guards)}", [*counted, *params, *refresh_row(first_token)]
        )

    def get_session(self, user_id: str, session_id: str) -> Session | None:
        return _session(
            self._one("SELECT * FROM sessions WHERE id = %s AND user_id = %s", (session_id, user_id))
        )

    def touch_session(self, user_id: str, session_id: str, now: datetime) -> Session | None:
        return _session(
            self._one(
                "UPDATE sessions SET last_used_at = %s WHERE id = %s AND user_id = %s RETURNING *",
                (now, session_id, user_id),
            )
        )

    def list_sessions(self, user_id: str, now: datetime) -> list[Session]:
        rows = self._all(
            "SELECT * FROM sessions WHERE user_id = %s AND revoked_at IS NULL AND expires_at > %s"
            " ORDER BY created_at DESC, id DESC",
            (user_id, now),
        )
        return [s for s in map(_session, rows) if s is not None]

    def page_sessions(
        self, user_id: str, now: datetime, limit: int, cursor: str | None = None
    ) -> Page[Session]:
        if cursor:
            seconds, session_id = parse_message_cursor(cursor)
            created = datetime.fromtimestamp(seconds, tz=UTC)  # exact to the microsecond it was made from
            rows = self._all(LIVE_SESSIONS_AFTER, (user_id, now, created, session_id, limit + 1))
        else:
            rows = self._all(LIVE_SESSIONS, (user_id, now, limit + 1))
        items = [s for s in map(_session, rows[:limit]) if s is not None]
        return Page(items, session_cursor(items[-1]) if len(rows) > limit else None)

    def list_revocations(self, since: datetime) -> list[Revocation]:
        rows = self._all("SELECT session_id, revoked_at FROM revocations WHERE revoked_at >= %s", (since,))
        return [Revocation(row["session_id"], row["revoked_at"]) for row in rows]

    def revoke_family(self, family_id: str, now: datetime) -> bool:
        with self._guard() as conn, conn.transaction():
            listed = self._run(
                conn,
                "INSERT INTO revocations (session_id, revoked_at) SELECT %s, %s"
                " WHERE EXISTS (SELECT 1 FROM sessions WHERE id = %s)"
                " OR EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = %s)"
                " ON CONFLICT (session_id) DO NOTHING",
                (family_id, now, family_id, family_id),
            ).rowcount
            self._run(
                conn,
                "UPDATE sessions SET revoked_at = %s WHERE id = %s AND revoked_at IS NULL",
                (now, family_id),
            )
            self._run(
                conn,
                "UPDATE refresh_tokens SET revoked_at = %s WHERE family_id = %s AND revoked_at IS NULL",
                (now, family_id),
            )
        return bool(listed == 1)

    def end_sessions(
        self, user_id: str, now: datetime, live_after: datetime, keep: str | None = None
    ) -> list[str]:
        # One statement, one snapshot: a session is marked, listed and its tokens revoked together, and one
        # a sign-in commits meanwhile is left whole (one transaction per session made 3,000 round trips).
        rows = self._all(END_SESSIONS, (now, user_id, live_after, keep, now, now))
        return [str(row["id"]) for row in rows]

    def _end_sessions_of(self, conn: psycopg.Connection[Row], user_id: str, now: datetime) -> None:
        """Inside a transaction: list, revoke and strip the client details of every session of a user."""
        self._run(
            conn,
            "INSERT INTO revocations (session_id, revoked_at) SELECT id, %s FROM sessions"
            " WHERE user_id = %s AND revoked_at IS NULL ON CONFLICT (session_id) DO NOTHING",
            (now, user_id),
        )
        self._run(
            conn,
            "UPDATE sessions SET revoked_at = COALESCE(revoked_at, %s), client = NULL, ip = NULL"
            " WHERE user_id = %s",
            (now, user_id),
        )
        self._run(
            conn,
            "UPDATE refresh_tokens SET revoked_at = %s WHERE user_id = %s AND revoked_at IS NULL",
            (now, user_id),
        )

    # --- erasure of a deleted account ---
    def anonymise_messages(self, user_id: str, author: str, pseudonym: str) -> int:
        return self._execute(
            "UPDATE messages SET user_id = %s, author = %s WHERE user_id = %s", (pseudonym, author, user_id)
        )

    def pseudonymise_audit(self, user_id: str, pseudonym: str) -> int:
        return self._execute(
            "UPDATE audit SET user_id = %s, email_hash = NULL, phone_masked = NULL, ip = NULL WHERE user_id = %s",
            (pseudonym, user_id),
        )

"""Sessions and the revocation list in SQLite; `revoke_family` ends a session in one transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from twostep.domain.counter_batch import CounterChange, Unless, check_unlimited
from twostep.domain.models import AuditEvent, CodeUse, Page, RefreshToken, Revocation, Session, User
from twostep.storage.challenges_sql import use_code_sql, use_code_values
from twostep.storage.cursors import parse_message_cursor, session_cursor
from twostep.storage.sql_accounts import unchanged_account_sql, unchanged_account_values
from twostep.storage.sql_audit import insert_audits
from twostep.storage.sqlite_connection import SqliteConnections, Undone, epoch, moment, moment_or_none
from twostep.storage.sqlite_counters import upsert_counters, upsert_parameters
from twostep.storage.sqlite_revocations import SELECT_SINCE, revocations_from

INSERT_TOKEN = (
    "INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at,"
    " family_expires_at, amr, used_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
USE_CODE = use_code_sql("?")
INSERT_SESSION = (
    "INSERT INTO sessions (id, user_id, created_at, expires_at, auth_time, amr, last_used_at,"
    " client, ip, revoked_at) "
)
SESSION_VALUES = "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# The same row, written only while the account is unchanged: the check is the insert (no more statements).
SESSION_IF_UNCHANGED = (
    f"SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS ({unchanged_account_sql('?', 'IS')})"
)
# A page of an account's live sessions, newest first (the index on user_id and created_at serves both).
LIVE_SESSIONS = (
    "SELECT * FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?"
    " ORDER BY created_at DESC, id DESC LIMIT ?"
)
LIVE_SESSIONS_AFTER = (
    "SELECT * FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?"
    " AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?"
)
# `end_sessions`, each with the parameters (now, user, the expiry a session must pass, the one kept).
LIST_ENDING = (
    "INSERT INTO revocations (session_id, revoked_at) SELECT id, ?1 FROM sessions"
    " WHERE user_id = ?2 AND revoked_at IS NULL AND expires_at > ?3 AND id IS NOT ?4"
    " ON CONFLICT (session_id) DO UPDATE SET revoked_at = excluded.revoked_at"
)
REVOKE_ENDING_TOKENS = (
    "UPDATE refresh_tokens SET revoked_at = ?1 WHERE revoked_at IS NULL AND family_id IN (SELECT id"
    " FROM sessions WHERE user_id = ?2 AND revoked_at IS NULL AND expires_at > ?3 AND id IS NOT ?4)"
)
END_SESSIONS = (
    "UPDATE sessions SET revoked_at = ?1"
    " WHERE user_id = ?2 AND revoked_at IS NULL AND expires_at > ?3 AND id IS NOT ?4 RETURNING id"
)


def token_row(t: RefreshToken) -> tuple[object, ...]:
    return (
        t.token_hash,
        t.family_id,
        t.user_id,
        epoch(t.created_at),
        epoch(t.expires_at),
        epoch(t.family_expires_at),
        ",".join(t.amr),
        epoch(t.used_at),
        epoch(t.revoked_at),
    )


def _session(row: sqlite3.Row | None) -> Session | None:
    if row is None:
        return None
    return Session(
        id=row["id"],
        user_id=row["user_id"],
        created_at=moment(row["created_at"]),
        expires_at=moment(row["expires_at"]),
        auth_time=moment(row["auth_time"]),
        amr=tuple(row["amr"].split(",")) if row["amr"] else (),
        last_used_at=moment(row["last_used_at"]),
        client=row["client"],
        ip=row["ip"],
        revoked_at=moment_or_none(row["revoked_at"]),
    )


def _insert_session(
    conn: sqlite3.Connection,
    s: Session,
    first_token: RefreshToken,
    audits: Sequence[AuditEvent],
    unchanged: User | None,
) -> bool:
    """False, having written nothing, while `unchanged` is no longer the account's (`add_session`)."""
    row = (
        s.id,
        s.user_id,
        epoch(s.created_at),
        epoch(s.expires_at),
        epoch(s.auth_time),
        ",".join(s.amr),
        epoch(s.last_used_at),
        s.client,
        s.ip,
        epoch(s.revoked_at),
    )
    if unchanged is None:
        conn.execute(INSERT_SESSION + SESSION_VALUES, row)
    else:
        checked = (*row, *unchanged_account_values(unchanged))
        if conn.execute(INSERT_SESSION + SESSION_IF_UNCHANGED, checked).rowcount != 1:
            return False
    conn.execute(INSERT_TOKEN, token_row(first_token))
    if audits:
        conn.execute(*insert_audits(audits, "?", epoch))
    return True


class SqliteSessionOps(SqliteConnections):
    def add_session(
        self,
        session: Session,
        first_token: RefreshToken,
        audits: Sequence[AuditEvent] = (),
        unchanged: User | None = None,
    ) -> bool:
        with self._transaction() as conn:
            return _insert_session(conn, session, first_token, audits, unchanged)
        return False  # not reached: `_transaction` swallows only `Undone`, which is not raised here

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
        with self._transaction() as conn:
            if (
                consuming is not None
                and conn.execute(USE_CODE, use_code_values(consuming, epoch)).rowcount != 1
            ):
                return False  # nothing was written: the transaction commits nothing
            sql, params = upsert_counters(changes, unless), upsert_parameters(changes, epoch(now), unless)
            if not conn.execute(sql, params).fetchall():
                # An `unless` holds: the code's use is rolled back with the rest. (Not a savepoint
                # around it: SQLite copies each page changed under one into a statement journal, which
                # here outgrew memory into a temporary file, ~0.1 ms of CPU per sign-in.)
                raise Undone()
            if not _insert_session(conn, session, first_token, audits, unchanged):
                raise Undone()  # the account changed: the counts and the code's use are rolled back too
            return True
        return False

    def get_session(self, user_id: str, session_id: str) -> Session | None:
        return _session(
            self._one("SELECT * FROM sessions WHERE id = ? AND user_id = ?", (session_id, user_id))
        )

    def touch_session(self, user_id: str, session_id: str, now: datetime) -> Session | None:
        return _session(
            self._one(
                "UPDATE sessions SET last_used_at = ? WHERE id = ? AND user_id = ? RETURNING *",
                (epoch(now), session_id, user_id),
            )
        )

    def list_sessions(self, user_id: str, now: datetime) -> list[Session]:
        rows = self._all(
            "SELECT * FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?"
            " ORDER BY created_at DESC, id DESC",
            (user_id, epoch(now)),
        )
        return [s for s in map(_session, rows) if s is not None]

    def page_sessions(
        self, user_id: str, now: datetime, limit: int, cursor: str | None = None
    ) -> Page[Session]:
        if cursor:
            created, session_id = parse_message_cursor(cursor)
            rows = self._all(LIVE_SESSIONS_AFTER, (user_id, epoch(now), created, session_id, limit + 1))
        else:
            rows = self._all(LIVE_SESSIONS, (user_id, epoch(now), limit + 1))
        items = [s for s in map(_session, rows[:limit]) if s is not None]
        return Page(items, session_cursor(items[-1]) if len(rows) > limit else None)

    def list_revocations(self, since: datetime) -> list[Revocation]:
        return revocations_from(self._all(SELECT_SINCE, (epoch(since),)))

    def revoke_family(self, family_id: str, now: datetime) -> bool:
        with self._transaction() as conn:
            listed = conn.execute(
                "INSERT INTO revocations (session_id, revoked_at) SELECT ?, ?"
                " WHERE (EXISTS (SELECT 1 FROM sessions WHERE id = ?)"
                " OR EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = ?))"
                " ON CONFLICT (session_id) DO NOTHING",
                (family_id, epoch(now), family_id, family_id),
            ).rowcount
            conn.execute(
                "UPDATE sessions SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (epoch(now), family_id),
            )
            conn.execute(
                "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
                (epoch(now), family_id),
            )
        return listed == 1

    def end_sessions(
        self, user_id: str, now: datetime, live_after: datetime, keep: str | None = None
    ) -> list[str]:
        # Three statements in one write transaction whatever the number (one transaction per session held
        # SQLite's write lock 1.56 s for 3,000 sessions while sign-ins waited).
        parameters = (epoch(now), user_id, epoch(live_after), keep)
        with self._transaction() as conn:
            conn.execute(LIST_ENDING, parameters)
            conn.execute(REVOKE_ENDING_TOKENS, parameters)
            return [str(row[0]) for row in conn.execute(END_SESSIONS, parameters).fetchall()]
        return []  # not reached: `_transaction` swallows only `Undone`, which is not raised here

    def _end_sessions_of(self, conn: sqlite3.Connection, user_id: str, now: datetime) -> None:
        """Inside a transaction: list, revoke and strip the client details of every session of a user."""
        conn.execute(
            "INSERT INTO revocations (session_id, revoked_at) SELECT id, ? FROM sessions"
            " WHERE user_id = ? AND revoked_at IS NULL ON CONFLICT (session_id) DO NOTHING",
            (epoch(now), user_id),
        )
        conn.execute(
            "UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?), client = NULL, ip = NULL WHERE user_id = ?",
            (epoch(now), user_id),
        )
        conn.execute(
            "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
            (epoch(now), user_id),
        )

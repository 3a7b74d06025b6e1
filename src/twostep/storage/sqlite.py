"""SQLite storage: one file, WAL, a connection per thread, every state change one conditional statement.

Times are stored as UNIX seconds (REAL) so comparisons happen in SQL. Uniqueness comes from UNIQUE
constraints, single use and attempt counting from `UPDATE … WHERE … RETURNING`, so no request ever
decides on a value it read earlier. Driver errors become `StorageUnavailable` (503), never a 500.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from twostep.domain.errors import AccountExists, StorageUnavailable
from twostep.domain.models import AuditEvent, Challenge, Message, OutboxEntry, Page, RefreshToken, User
from twostep.domain.ports import Counter
from twostep.storage.cursors import message_cursor, parse_message_cursor

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, phone TEXT UNIQUE, password_hash TEXT NOT NULL,
    first_name TEXT, last_name TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS challenges (
    id TEXT PRIMARY KEY, purpose TEXT NOT NULL, subject TEXT NOT NULL, phone TEXT NOT NULL,
    code_hmac TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL, max_attempts INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, consumed_at REAL, sends INTEGER NOT NULL DEFAULT 1,
    last_sent_at REAL, code_length INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY, family_id TEXT NOT NULL, user_id TEXT NOT NULL, created_at REAL NOT NULL,
    expires_at REAL NOT NULL, family_expires_at REAL NOT NULL, amr TEXT NOT NULL, used_at REAL, revoked_at REAL);
CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_user ON refresh_tokens (user_id);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, author TEXT NOT NULL, content TEXT NOT NULL,
    created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS messages_recent ON messages (created_at DESC, id DESC);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, to_number TEXT NOT NULL, body TEXT NOT NULL, sent_at REAL NOT NULL,
    provider TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_to ON outbox (to_number, seq);
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL, at REAL NOT NULL, user_id TEXT,
    email_hash TEXT, phone_masked TEXT, ip TEXT, request_id TEXT, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_user ON audit (user_id, seq);
"""


def _ts(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def _req_dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


class SqliteStorage:
    """Satisfies every storage port; safe to share between threads."""

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 10_000) -> None:
        self._path = str(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.statements = 0  # counted for the benchmarks (storage requests per sign-in)

    # --- connections ---
    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._file_identity() != getattr(self._local, "identity", None):
            # The file was removed or replaced under an open connection. SQLite would go on writing
            # into the unlinked inode and every answer would be lost at the next start: fail instead.
            self._drop_connection()
            conn = None
            if self._file_identity() is None:
                raise StorageUnavailable("The database file is missing.")
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            self._local.identity = self._file_identity()
            with self._lock:
                self._connections.append(conn)
        return conn

    def _open(self) -> sqlite3.Connection:
        if self._path != ":memory:" and not Path(self._path).parent.is_dir():
            raise StorageUnavailable("The database folder does not exist.")
        conn = sqlite3.connect(
            self._path,
            isolation_level=None,
            check_same_thread=False,
            timeout=self._busy_timeout_ms / 1000,
        )
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL: a committed transaction survives a process crash (SIGKILL), not a power loss.
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        return conn

    def _file_identity(self) -> tuple[int, int] | None:
        """Device and inode of the database file; None when it is gone (or in memory)."""
        if self._path == ":memory:":
            return None
        try:
            stat = os.stat(self._path)
        except OSError:
            return None
        return (stat.st_dev, stat.st_ino)

    @contextmanager
    def _guard(self, *, unique: bool = False) -> Iterator[sqlite3.Connection]:
        """Every driver error becomes `StorageUnavailable`; with `unique`, a constraint violation
        is passed on for the caller to turn into its domain error."""
        try:
            yield self._connection()
        except sqlite3.IntegrityError:
            if unique:
                raise
            self._drop_connection()
            raise StorageUnavailable() from None
        except sqlite3.Error as exc:
            # OperationalError (locked, read-only, disk full), DatabaseError (corrupt file),
            # ProgrammingError / InterfaceError (a connection closed under us), and the rest.
            self._drop_connection()
            raise StorageUnavailable() from exc

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _execute(self, sql: str, params: Sequence[Any] = (), *, unique: bool = False) -> sqlite3.Cursor:
        with self._guard(unique=unique) as conn:
            self.statements += 1
            return conn.execute(sql, params)

    def _one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self._guard() as conn:
            self.statements += 1
            row: sqlite3.Row | None = conn.execute(sql, params).fetchone()
            return row

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._guard() as conn:
            self.statements += 1
            return conn.execute(sql, params).fetchall()

    def init_schema(self) -> None:
        """Raises: StorageUnavailable naming the file, for a one-line start-up failure."""
        try:
            with self._guard() as conn:
                conn.executescript(SCHEMA)
        except StorageUnavailable as exc:
            cause = exc.__cause__ or exc
            raise StorageUnavailable(f"Cannot use the SQLite database {self._path}: {cause}") from cause

    def ping(self) -> None:
        self._one("SELECT 1")

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

    # --- users ---
    def add_user(self, user: User) -> None:
        try:
            self._execute(
                "INSERT INTO users (id, email, phone, password_hash, first_name, last_name, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    user.id,
                    user.email,
                    user.phone,
                    user.password_hash,
                    user.first_name,
                    user.last_name,
                    _ts(user.created_at),
                ),
                unique=True,
            )
        except sqlite3.IntegrityError as exc:
            raise AccountExists() from exc

    @staticmethod
    def _user(row: sqlite3.Row | None) -> User | None:
        if row is None:
            return None
        return User(
            id=row["id"],
            email=row["email"],
            password_hash=row["password_hash"],
            created_at=_req_dt(row["created_at"]),
            first_name=row["first_name"],
            last_name=row["last_name"],
            phone=row["phone"],
        )

    def get_user(self, user_id: str) -> User | None:
        return self._user(self._one("SELECT * FROM users WHERE id = ?", (user_id,)))

    def find_user_by_email(self, email: str) -> User | None:
        return self._user(self._one("SELECT * FROM users WHERE email = ?", (email,)))

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        self._execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))

    def list_users(self, limit: int, cursor: str | None = None) -> Page[User]:
        rows = self._all("SELECT * FROM users WHERE id > ? ORDER BY id LIMIT ?", (cursor or "", limit + 1))
        users = [user for user in map(self._user, rows[:limit]) if user is not None]
        return Page(users, users[-1].id if len(rows) > limit else None)

    def delete_user(self, user_id: str, now: datetime) -> bool:
        with self._guard() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                deleted = conn.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount
                conn.execute(
                    "UPDATE refresh_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                    (_ts(now), user_id),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
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
            created_at=_req_dt(row["created_at"]),
            expires_at=_req_dt(row["expires_at"]),
            max_attempts=row["max_attempts"],
            attempts=row["attempts"],
            consumed_at=_dt(row["consumed_at"]),
            sends=row["sends"],
            last_sent_at=_dt(row["last_sent_at"]),
            code_length=row["code_length"],
        )

    def put_challenge(self, challenge: Challenge) -> None:
        c = challenge
        self._execute(
            "INSERT OR REPLACE INTO challenges (id, purpose, subject, phone, code_hmac, created_at, expires_at,"
            " max_attempts, attempts, consumed_at, sends, last_sent_at, code_length)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                c.id,
                c.purpose,
                c.subject,
                c.phone,
                c.code_hmac,
                _ts(c.created_at),
                _ts(c.expires_at),
                c.max_attempts,
                c.attempts,
                _ts(c.consumed_at),
                c.sends,
                _ts(c.last_sent_at),
                c.code_length,
            ),
        )

    def get_challenge(self, challenge_id: str) -> Challenge | None:
        return self._challenge(self._one("SELECT * FROM challenges WHERE id = ?", (challenge_id,)))

    def replace_code(
        self, challenge_id: str, code_hmac: str, expires_at: datetime, now: datetime
    ) -> Challenge | None:
        return self._challenge(
            self._one(
                "UPDATE challenges SET code_hmac = ?, expires_at = ?, last_sent_at = ?, sends = sends + 1"
                " WHERE id = ? AND consumed_at IS NULL RETURNING *",
                (code_hmac, _ts(expires_at), _ts(now), challenge_id),
            )
        )

    def count_attempt(self, challenge_id: str, now: datetime) -> Challenge | None:
        return self._challenge(
            self._one(
                "UPDATE challenges SET attempts = attempts + 1 WHERE id = ? AND consumed_at IS NULL"
                " AND expires_at > ? AND attempts < max_attempts RETURNING *",
                (challenge_id, _ts(now)),
            )
        )

    def consume_challenge(self, challenge_id: str, now: datetime) -> bool:
        cursor = self._execute(
            "UPDATE challenges SET consumed_at = ? WHERE id = ? AND consumed_at IS NULL",
            (_ts(now), challenge_id),
        )
        return cursor.rowcount == 1

    def expire_challenge(self, challenge_id: str, now: datetime) -> None:
        self._execute(
            "UPDATE challenges SET expires_at = MIN(expires_at, ?) WHERE id = ?", (_ts(now), challenge_id)
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
            created_at=_req_dt(row["created_at"]),
            expires_at=_req_dt(row["expires_at"]),
            family_expires_at=_req_dt(row["family_expires_at"]),
            amr=tuple(row["amr"].split(",")),
            used_at=_dt(row["used_at"]),
            revoked_at=_dt(row["revoked_at"]),
        )

    def add_refresh_token(self, token: RefreshToken) -> None:
        t = token
        self._execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, created_at, expires_at,"
            " family_expires_at, amr, used_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                t.token_hash,
                t.family_id,
                t.user_id,
                _ts(t.created_at),
                _ts(t.expires_at),
                _ts(t.family_expires_at),
                ",".join(t.amr),
                _ts(t.used_at),
                _ts(t.revoked_at),
            ),
        )

    def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        return self._refresh(self._one("SELECT * FROM refresh_tokens WHERE token_hash = ?", (token_hash,)))

    def claim_refresh_token(self, token_hash: str, now: datetime) -> RefreshToken | None:
        return self._refresh(
            self._one(
                "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL"
                " AND revoked_at IS NULL AND expires_at > ? RETURNING *",
                (_ts(now), token_hash, _ts(now)),
            )
        )

    def revoke_family(self, family_id: str, now: datetime) -> None:
        self._execute(
            "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL",
            (_ts(now), family_id),
        )

    # --- messages ---
    def add_message(self, message: Message) -> None:
        m = message
        self._execute(
            "INSERT INTO messages (id, user_id, author, content, created_at) VALUES (?, ?, ?, ?, ?)",
            (m.id, m.user_id, m.author, m.content, _ts(m.created_at)),
        )

    def list_messages(self, limit: int, cursor: str | None = None) -> Page[Message]:
        if cursor:
            created, message_id = parse_message_cursor(cursor)
            rows = self._all(
                "SELECT * FROM messages WHERE created_at < ? OR (created_at = ? AND id < ?)"
                " ORDER BY created_at DESC, id DESC LIMIT ?",
                (created, created, message_id, limit + 1),
            )
        else:
            rows = self._all("SELECT * FROM messages ORDER BY created_at DESC, id DESC LIMIT ?", (limit + 1,))
        items = [
            Message(
                id=r["id"],
                user_id=r["user_id"],
                author=r["author"],
                content=r["content"],
                created_at=_req_dt(r["created_at"]),
            )
            for r in rows[:limit]
        ]
        last = items[-1] if items else None
        next_cursor = message_cursor(last) if last and len(rows) > limit else None
        return Page(items, next_cursor)

    # --- outbox ---
    def add_outbox(self, entry: OutboxEntry) -> None:
        self._execute(
            "INSERT INTO outbox (to_number, body, sent_at, provider) VALUES (?, ?, ?, ?)",
            (entry.to, entry.body, _ts(entry.sent_at), entry.provider),
        )

    def list_outbox(self, to: str | None = None, last: int = 20) -> list[OutboxEntry]:
        if to is None:
            rows = self._all("SELECT * FROM outbox ORDER BY seq DESC LIMIT ?", (last,))
        else:
            rows = self._all("SELECT * FROM outbox WHERE to_number = ? ORDER BY seq DESC LIMIT ?", (to, last))
        return [
            OutboxEntry(
                to=r["to_number"], body=r["body"], sent_at=_req_dt(r["sent_at"]), provider=r["provider"]
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
            (key, amount, _ts(expires_at), _ts(now), _ts(now)),
        )
        assert row is not None
        return int(row["value"])

    def get_counter(self, key: str, now: datetime) -> Counter | None:
        row = self._one(
            "SELECT value, expires_at FROM counters WHERE key = ? AND expires_at > ?", (key, _ts(now))
        )
        return None if row is None else Counter(int(row["value"]), _req_dt(row["expires_at"]))

    def delete_counter(self, key: str) -> None:
        self._execute("DELETE FROM counters WHERE key = ?", (key,))

    # --- audit ---
    def append_audit(self, event: AuditEvent) -> None:
        e = event
        self._execute(
            "INSERT INTO audit (event, at, user_id, email_hash, phone_masked, ip, request_id, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                e.event,
                _ts(e.at),
                e.user_id,
                e.email_hash,
                e.phone_masked,
                e.ip,
                e.request_id,
                json.dumps(e.detail),
            ),
        )

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
                at=_req_dt(r["at"]),
                user_id=r["user_id"],
                email_hash=r["email_hash"],
                phone_masked=r["phone_masked"],
                ip=r["ip"],
                request_id=r["request_id"],
                detail=json.loads(r["detail"]),
            )
            for r in reversed(rows)
        ]

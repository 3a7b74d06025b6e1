"""SQLite plumbing: the schema, one connection per thread, WAL, and driver errors mapped to 503.

`SqliteStorage` (storage/sqlite.py) adds the records on top. Every `sqlite3.Error` becomes
`StorageUnavailable` except the uniqueness violation that `add_user` turns into `AccountExists`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from twostep.domain.errors import StorageUnavailable

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
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL,
    auth_time REAL NOT NULL, amr TEXT NOT NULL, last_used_at REAL NOT NULL, client TEXT, ip TEXT,
    revoked_at REAL);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions (user_id, created_at);
CREATE TABLE IF NOT EXISTS revocations (session_id TEXT PRIMARY KEY, revoked_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS revocations_recent ON revocations (revoked_at);
CREATE INDEX IF NOT EXISTS messages_user ON messages (user_id);
"""


# Times are stored as UNIX seconds (REAL) so that comparisons with "now" happen inside SQL.
def epoch(when: datetime | None) -> float | None:
    return None if when is None else when.timestamp()


def moment(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def moment_or_none(value: float | None) -> datetime | None:
    return None if value is None else moment(value)


class SqliteConnections:
    """One SQLite file shared by threads: a connection each, opened lazily, dropped after any error."""

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

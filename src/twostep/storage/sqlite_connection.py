"""SQLite plumbing: migrations, a small pool of connections, WAL, and driver errors mapped to 503.

`SqliteStorage` (storage/sqlite.py) adds the records on top. Every `sqlite3.Error` becomes
`StorageUnavailable` except the uniqueness violation that `add_user` turns into `AccountExists`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from twostep.domain.errors import ConfigurationError, StorageUnavailable
from twostep.storage.migrations import SQLITE_LEDGER, pending, split_sqlite

logger = logging.getLogger("twostep.storage")


# Times are stored as UNIX seconds (REAL) so that comparisons with "now" happen inside SQL.
def epoch(when: datetime | None) -> float | None:
    return None if when is None else when.timestamp()


def moment(value: float) -> datetime:
    return datetime.fromtimestamp(value, tz=UTC)


def moment_or_none(value: float | None) -> datetime | None:
    return None if value is None else moment(value)


# Idle connections kept open for reuse; each holds two descriptors (the file and its WAL).
KEEP_IDLE = 1
# Connections open at once (KEEP_IDLE, so none is closed on return); a borrower beyond the cap waits
# here, for up to the busy timeout. SQLite has one writer, and in WAL mode a connection drops its whole
# page cache when another connection wrote since its last transaction, then reads every page it needs
# again (pread). With 8 connections taking turns under the bench's login load that was 22-24 read
# calls per login; with 2, 8-9. With one there is no other connection in the process to write: 4-20
# reads per sign-in instead of 21-37, and 0.1-0.14 ms less CPU per sign-in beside the hash, on one
# worker and on two (alternating A/B rounds, the bench's server and load; two workers at the same
# rate): most of a sign-in's statements write, and writers wait for SQLite's one write lock anyway. No
# long work holds the connection: a backup runs in the CLI's own process, a purge deletes in bounded
# batches. (Up to 16 AnyIO threads once opened 13-16 connections, +1.1-1.4 MiB peak RSS.)
MAX_OPEN = KEEP_IDLE
# WAL pages after which a commit copies the WAL back into the database file (SQLite's default: 1,000).
# With two connections per process (as then), or several workers, some connection is nearly always
# reading under steady load, so the WAL seldom starts over; once past the mark, commit after commit ran a
# checkpoint (two fdatasyncs each): 0.39 fdatasyncs, 107 pwrites and 61 preads per sign-in under the
# bench load. At 10,000 (a WAL of up to ~40 MiB): 0.02, 92 and 42, and 0.15-0.25 ms less CPU per
# sign-in on the request threads. One worker with its one connection can start the WAL over; there,
# 1,000 measured no better (four alternating rounds: 1.58 against 1.55 ms beside the hash). A power
# loss can lose the commits since the last checkpoint (synchronous = NORMAL, docs/failures.md); a
# process crash still loses nothing.
WAL_CHECKPOINT_PAGES = 10_000
# How long a start waits, beyond the busy timeout, for another process's migration (or other write).
MIGRATION_WAIT_SECONDS = 600.0
# Between tries of the switch to WAL while another connection holds the lock (see `_use_wal`); SQLite's
# own busy handler waits 1 to 100 ms between its tries.
WAL_SWITCH_PAUSE_SECONDS = 0.005


def _locked(error: BaseException) -> bool:
    """SQLite's answer once the busy timeout has passed while another connection held the write lock."""
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


def _identity(path: str | Path) -> tuple[int, int] | None:
    """Device and inode of `path`; None when there is no such file."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino)


def _blame_the_copy(source: sqlite3.Connection, error: sqlite3.Error) -> None:
    """Raises OSError naming `error` when the live database still answers: the copy's side failed (its
    disk full, say), which "Storage is unavailable; try again shortly" blamed on the live database."""
    try:
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        return  # the live database failed: passed on as StorageUnavailable
    name = getattr(error, "sqlite_errorname", None)
    raise OSError(f"{error} ({name})" if name else str(error)) from error


def _drop_journals_beside(target: Path) -> None:
    """Delete the WAL, shared-memory and rollback journal of an earlier file at `target`.

    SQLite reads a `-wal` or hot `-journal` beside a database as part of it, without checking which file
    it was written for: one left by a process that once opened the older copy would be replayed into the
    new one, which then held that process's writes and a broken index instead of the backup.
    """
    for suffix in ("-wal", "-shm", "-journal"):
        target.with_name(target.name + suffix).unlink(missing_ok=True)


@dataclass(slots=True)
class _Pooled:
    conn: sqlite3.Connection
    identity: tuple[int, int] | None  # the file the connection was opened on


class _Borrowed:
    """`SqliteConnections._guard`: a class rather than a `contextmanager` generator, which cost a few
    microseconds more on each of the twenty-odd statements of a sign-in."""

    __slots__ = ("_pool", "_pooled", "_unique")

    def __init__(self, pool: SqliteConnections, unique: bool) -> None:
        self._pool, self._unique = pool, unique

    def __enter__(self) -> sqlite3.Connection:
        self._pooled = self._pool._borrow()
        return self._pooled.conn

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _: TracebackType | None
    ) -> None:
        pool, pooled = self._pool, self._pooled
        if kind is None:
            pool._give_back(pooled)
        elif issubclass(kind, sqlite3.IntegrityError):
            if self._unique:
                pool._give_back(pooled)
                return  # passed on as it is
            pool._discard(pooled.conn)
            raise StorageUnavailable() from None
        elif issubclass(kind, sqlite3.Error):
            # OperationalError (locked, read-only, disk full), DatabaseError (corrupt file),
            # ProgrammingError / InterfaceError (a connection closed under us), and the rest.
            pool._discard(pooled.conn)
            raise StorageUnavailable() from error
        else:
            pool._discard(pooled.conn)


class Undone(Exception):
    """Raised inside `SqliteConnections._transaction` to roll back what the transaction wrote and go on
    after its `with` block: a decision (a limit held), not an error."""


class _Transaction:
    """`BEGIN IMMEDIATE` … `COMMIT` on a borrowed connection (`SqliteConnections._transaction`), rolled
    back on any error (also a failed COMMIT), then handed to the borrow's `__exit__` as a statement's
    error is; rolled back and the connection given back as after a success on `Undone`. A class for the
    same reason as `_Borrowed`: each write of a sign-in goes through one."""

    __slots__ = ("_borrowed", "_conn")

    def __init__(self, borrowed: _Borrowed) -> None:
        self._borrowed = borrowed

    def __enter__(self) -> sqlite3.Connection:
        conn = self._conn = self._borrowed.__enter__()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except BaseException as error:
            self._borrowed.__exit__(type(error), error, error.__traceback__)
            raise
        return conn

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> bool:
        conn = self._conn
        try:
            if kind is None:
                try:
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            else:
                conn.execute("ROLLBACK")
        except BaseException as failure:
            self._borrowed.__exit__(type(failure), failure, failure.__traceback__)
            raise
        if kind is not None and issubclass(kind, Undone):
            self._borrowed.__exit__(None, None, None)
            return True  # undone on purpose: the caller goes on after its `with` block
        self._borrowed.__exit__(kind, error, trace)
        return False


class SqliteConnections:
    """One SQLite file shared by threads through a small pool of connections.

    A thread borrows a connection for one statement or one transaction and gives it back; at most
    `keep_idle` idle connections are kept, the rest are closed; at most `max_open` are open at once (a
    borrower waits for one, up to the busy timeout, then gets StorageUnavailable). Connections are never
    tied to a thread, so a thread pool that retires threads (anyio does after 10 s idle) leaks nothing.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        busy_timeout_ms: int = 10_000,
        keep_idle: int = KEEP_IDLE,
        max_open: int = MAX_OPEN,
    ) -> None:
        self._path = str(path)
        self._busy_timeout_ms = busy_timeout_ms
        self._keep_idle = keep_idle
        self._max_open = max_open
        self._open_count = 0  # connections open or being opened, idle ones included
        self._idle: list[_Pooled] = []  # last in, first out: the warmest connection is reused
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)  # a connection came back or was closed
        # Borrowers waiting on `_freed`: nearly always none, and a notify then is pure cost (Condition's
        # ownership check tries the lock: ~7 per sign-in).
        self._waiting = 0
        self._closed = False
        self.statements = 0  # counted for the benchmarks (storage requests per sign-in)

    # --- connections ---
    def _take(self) -> _Pooled | None:
        """An idle connection, or None with a slot reserved for opening one; waits while all are busy."""
        deadline: float | None = None
        with self._lock:
            while not self._idle and self._open_count >= self._max_open:
                if deadline is None:
                    deadline = time.monotonic() + self._busy_timeout_ms / 1000
                left = deadline - time.monotonic()
                if left <= 0 or not self._wait_freed(left):
                    if self._idle or self._open_count < self._max_open:
                        break  # freed just as the wait ended
                    raise StorageUnavailable("Every SQLite connection stayed busy.")
            if self._idle:
                return self._idle.pop()
            self._open_count += 1
            return None

    def _wait_freed(self, seconds: float) -> bool:
        """`_freed.wait`, counted in `_waiting` (the lock held, as `wait` needs)."""
        self._waiting += 1
        try:
            return self._freed.wait(seconds)
        finally:
            self._waiting -= 1

    def _notify_freed(self) -> None:
        """Wakes one waiting borrower, if any (the lock held)."""
        if self._waiting:
            self._freed.notify()

    def _release_slot(self) -> None:
        with self._lock:
            self._open_count -= 1
            self._notify_freed()

    def _borrow(self) -> _Pooled:
        pooled = self._take()
        try:
            identity = self._file_identity()
            if pooled is not None and pooled.identity != identity:
                # The file was removed or replaced under an open connection. SQLite would go on writing
                # into the unlinked inode and every answer would be lost at the next start: fail instead.
                self._close_quietly(pooled.conn)  # its slot is kept for the new connection
                self._close_idle()
                pooled = None
                if identity is None:
                    raise StorageUnavailable("The database file is missing.")
            if pooled is None:
                self._create_private_file()
                conn = self._open()
                pooled = _Pooled(conn, self._file_identity())
        except BaseException:
            self._release_slot()
            raise
        return pooled

    def _give_back(self, pooled: _Pooled) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._keep_idle:
                self._idle.append(pooled)
                self._notify_freed()
                return
        self._discard(pooled.conn)

    def _discard(self, conn: sqlite3.Connection) -> None:
        """Close a borrowed connection for good and free its slot."""
        self._close_quietly(conn)
        self._release_slot()

    def _close_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for pooled in idle:
            self._discard(pooled.conn)

    @staticmethod
    def _close_quietly(conn: sqlite3.Connection) -> None:
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    def _create_private_file(self) -> None:
        """A new database file is created 0600 (SQLite gives its -wal and -shm files the same mode)."""
        if self._path == ":memory:" or self._path.startswith("file:"):
            return
        # Any other failure (missing folder, read-only) is left for sqlite3.connect to report.
        with contextlib.suppress(OSError):
            os.close(os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))

    def _open(self) -> sqlite3.Connection:
        if self._path != ":memory:" and not Path(self._path).parent.is_dir():
            raise StorageUnavailable("The database folder does not exist.")
        try:
            conn = sqlite3.connect(
                self._path,
                isolation_level=None,
                check_same_thread=False,
                timeout=self._busy_timeout_ms / 1000,
            )
        except sqlite3.Error as exc:
            raise StorageUnavailable() from exc
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            self._use_wal(conn)
            # NORMAL: a committed transaction survives a process crash (SIGKILL), not a power loss.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
        except sqlite3.Error as exc:
            conn.close()
            raise StorageUnavailable() from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Switch the database to WAL (a no-op once it is), waiting up to the busy timeout for the lock.

        On a database still in rollback-journal mode (new, restored from a backup, or made by another
        tool) the switch reads, then takes the write lock. While another connection writes or switches
        too, SQLite answers "database is locked" at once instead of calling its busy handler (waiting
        with a read lock held could deadlock the two), whatever the busy timeout: a pool used before
        `migrate` (two backups at once in tests/storage) failed with "Storage is unavailable", and
        `migrate`, which waits for a locked database, tried again in a busy loop. Tried again here, as the
        busy handler would, until the timeout.
        """
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                if not _locked(error) or time.monotonic() >= deadline:
                    raise
            time.sleep(WAL_SWITCH_PAUSE_SECONDS)

    def _file_identity(self) -> tuple[int, int] | None:
        """Device and inode of the database file; None when it is gone (or in memory)."""
        # The text as it is: a Path made for each of the 7 connections a sign-in borrows cost ~0.27 M
        # instructions per sign-in (callgrind).
        return None if self._path == ":memory:" else _identity(self._path)

    def _transaction(self) -> _Transaction:
        """A borrowed connection in `BEGIN IMMEDIATE` … `COMMIT`, rolled back on any error (driver
        errors become StorageUnavailable; see `_Transaction`) and on `Undone`, which it swallows."""
        return _Transaction(_Borrowed(self, False))

    def _guard(self, *, unique: bool = False) -> _Borrowed:
        """A borrowed connection for one statement or transaction. Every driver error becomes
        `StorageUnavailable` and closes the connection; with `unique`, a constraint violation is
        passed on for the caller to turn into its domain error."""
        return _Borrowed(self, unique)

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
        self.migrate()

    def migrate(self) -> list[int]:
        """Apply the missing schema steps in one write transaction; returns the versions applied now.

        A process starting while another migrates waits for it (up to `MIGRATION_WAIT_SECONDS`, as
        PostgreSQL's advisory lock makes it wait), not only the busy timeout: a step over a large table
        may take longer, and the second worker of `twostep serve --workers 2` would fail to start.

        Raises: StorageUnavailable naming the file, for a one-line start-up failure.
        """
        deadline = time.monotonic() + MIGRATION_WAIT_SECONDS
        while True:
            try:
                if not self._steps_pending():
                    return []
                return self._migrate()
            except StorageUnavailable as exc:
                cause = exc.__cause__ or exc
                if not _locked(cause) or time.monotonic() >= deadline:
                    raise StorageUnavailable(
                        f"Cannot use the SQLite database {self._path}: {cause}"
                    ) from cause
                logger.info("waiting for another process's write (a schema migration) on %s", self._path)

    def _steps_pending(self) -> bool:
        """Whether a schema step is missing, read without the write lock: a current database needs none,
        and every command (`twostep users list` too) waited up to `MIGRATION_WAIT_SECONDS`, saying
        nothing, while any other process held a write transaction open (a `sqlite3` shell, a long job).
        A step missing here is looked for again under the lock (another process may apply it first)."""
        with self._guard() as conn:
            ledger = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
            ).fetchone()
            if ledger is None:
                return True
            applied = {int(row[0]) for row in conn.execute("SELECT version FROM schema_migrations")}
        return bool(pending(applied))

    def _migrate(self) -> list[int]:
        with self._guard() as conn:
            conn.execute("BEGIN IMMEDIATE")  # a second process starting now waits here, then finds none
            try:
                conn.execute(SQLITE_LEDGER)
                applied = {int(row[0]) for row in conn.execute("SELECT version FROM schema_migrations")}
                steps = pending(applied)
                for step in steps:
                    if callable(step.sqlite):
                        step.sqlite(conn)
                    else:
                        for statement in split_sqlite(step.sqlite):
                            conn.execute(statement)
                    conn.execute(
                        "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                        (step.version, time.time()),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return [step.version for step in steps]

    def ping(self) -> None:
        self._one("SELECT 1")

    def checkpoint(self) -> None:
        """Copy the WAL into the database file and empty it, so the `.db` file alone is complete.

        Raises: StorageUnavailable.
        """
        if self._path != ":memory:":
            self._one("PRAGMA wal_checkpoint(TRUNCATE)")

    def backup_to(self, target: Path) -> None:
        """A consistent copy of the live database in `target` (created 0600), with SQLite's online backup
        API: one read transaction copies every page while writers go on (WAL), then the copy is made a
        self-contained file (rollback journal, no -wal beside it).

        Raises:
            ConfigurationError: `target` is the live database or one of its journal files.
            OSError: the copy could not be written (its folder missing, its disk full) while the live
                database still answers.
            StorageUnavailable: the live database failed.
        """
        self._refuse_own_files(target)
        # A name of its own (created 0600): two backups to one PATH at once (a cron job and an operator)
        # each deleted and re-made the other's copy under it, and both failed.
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        os.close(handle)
        partial = Path(name)
        try:
            with self._guard() as source:
                copy = sqlite3.connect(partial)
                try:
                    source.backup(copy)  # all pages in one step: one consistent snapshot
                    copy.execute("PRAGMA journal_mode = DELETE")
                except sqlite3.Error as exc:
                    _blame_the_copy(source, exc)
                    raise
                finally:
                    copy.close()
            _drop_journals_beside(target)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
            _drop_journals_beside(partial)  # a copy that failed half-way leaves its rollback journal

    def _refuse_own_files(self, target: Path) -> None:
        """The copy replaces `target`: the live file (by any name) or its WAL would be swapped under the
        servers writing to it, and what they commit meanwhile lost; the dev master key beside it
        (`secrets.master_key.dev_master_key_path`) would be lost with every key it opens."""
        if self._path == ":memory:":
            return
        live = Path(self._path).resolve()
        beside = ("-wal", "-shm", "-journal", ".master-key", ".master-key.previous")
        own = {live, *(live.with_name(live.name + suffix) for suffix in beside)}
        live_identity = self._file_identity()
        hard_link = live_identity is not None and _identity(target) == live_identity
        if target.resolve() in own or hard_link:
            raise ConfigurationError(
                f"{target} is the live database {self._path} (or a file beside it that it needs):"
                " give the copy another path"
            )

    def close(self) -> None:
        """Checkpoints the WAL (best effort: another process may still be reading), then closes."""
        try:
            self.checkpoint()
        except StorageUnavailable:
            logger.warning("could not checkpoint the SQLite WAL at close")
        with self._lock:
            self._closed = True
        self._close_idle()

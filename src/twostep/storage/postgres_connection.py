"""PostgreSQL plumbing: a psycopg connection pool, migrations under an advisory lock, errors mapped to 503.

`PostgresStorage` (storage/postgres.py) adds the records on top. Every `psycopg.Error` (the pool's
timeouts included) becomes `StorageUnavailable`, except the uniqueness violation that `add_user` turns
into `AccountExists`. Connections run in autocommit: each record method is one conditional statement,
and the few multi-statement changes open an explicit transaction. A statement is cancelled (503) after
the same timeout a request waits for a connection (migrations excepted). The URL may hold a password: it is
never logged nor put into an error; messages name only host, port and database.

When a connection breaks or the server cannot be reached, requests answer 503 at once instead of each
waiting the pool's timeout (10 s by default: under load every request thread then waited, and the whole
process with them), and the pool tries again every few seconds rather than psycopg_pool's backoff of up to two
minutes between tries (measured: 503s went on 22 s after the server was back from a 90-s outage).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from twostep.domain.errors import ConfigurationError, StorageUnavailable
from twostep.storage.migrations import POSTGRES_LEDGER, pending
from twostep.storage.postgres_pooled import PooledConnection, RecentFirstPool, Row

__all__ = ["PostgresConnections", "Row", "as_is", "describe"]

logger = logging.getLogger("twostep.storage")

# Any constant shared by every twostep process: the key of the advisory lock migrations run under.
MIGRATION_LOCK_KEY = 0x74776F73  # "twos"
# How long the pool keeps retrying one connection (1 s, 2 s, ... apart) before it gives up on it and
# says the server is unreachable; a request then starts a new try. psycopg_pool's default is 5 minutes.
RECONNECT_SECONDS = 5.0
# While the server seems gone, how long a request waits for a connection the pool may just have made.
UNREACHABLE_WAIT_SECONDS = 0.25
# How much longer than the statement timeout a reply may take before the server counts as frozen.
REPLY_GRACE_SECONDS = 2.0


def describe(url: str) -> str:
    """host:port/dbname of a connection URL, without the user's password; `h1:p1,h2:p2/dbname` for
    several hosts (libpq tries them in turn). What the URL leaves out is named as libpq fills it in: from
    PGHOST, PGPORT, PGDATABASE (and the user's name), else its defaults (the local socket, 5432)."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.Error:
        return "(an unreadable URL)"
    if parts.get("hostaddr") and not parts.get("host"):
        parts["host"] = parts["hostaddr"]  # an address alone: libpq connects there, whatever PGHOST says
    fallback = {
        option.keyword.decode(): (option.val or option.compiled or b"").decode()
        for option in pq.Conninfo.get_defaults()
    }

    def given(name: str, default: str) -> list[str]:
        """Each host's value (an empty one in a list: the default)."""
        value = fallback.get(name) or default
        return [part or value for part in str(parts.get(name) or value).split(",")]

    hosts = given("host", "local socket")
    ports = given("port", "5432")
    if len(ports) == 1:
        ports *= len(hosts)
    where = ",".join(f"{host}:{port}" for host, port in zip(hosts, ports, strict=False))
    return f"{where}/{given('dbname', given('user', '')[0])[0]}"


_UNREADABLE_URL = (
    "TWOSTEP_DATABASE_URL: not a URL PostgreSQL can read "
    "(postgresql://user:password@host:port/dbname; a password's special characters %-encoded)"
)


# The first psycopg whose `Connection.wait` takes a `timeout` (and raises `_WaitTimeout` past it), which the
# bound on a reply needs (`PooledConnection.wait`); pyproject.toml asks for it.
MIN_PSYCOPG = "3.3.6"


def _check_psycopg() -> None:
    """Raises: ConfigurationError saying which psycopg is needed.

    An older one (pip keeps an installed psycopg that met the earlier `>=3.2` on an upgrade, and distros
    ship 3.2) failed the set-up of every connection: the pool never connected, each start stopped after
    the timeout with "couldn't get a connection" and the log said only "no attribute '_WaitTimeout'"."""
    if not hasattr(psycopg.errors, "_WaitTimeout"):
        raise ConfigurationError(
            f"TWOSTEP_STORAGE=postgres needs psycopg {MIN_PSYCOPG} or later (installed: {psycopg.__version__}); "
            f"pip install --upgrade 'psycopg[binary,pool]>={MIN_PSYCOPG}'"
        )


def _check_readable(url: str) -> None:
    """Raises: ConfigurationError naming the variable, never the URL (nor libpq's message, which quotes it).

    A host with an `@` is a password's bare `@`: libpq ends the password at the first one and reads the
    rest as the host, which psycopg_pool's "failed to resolve host" warnings and the failure line then
    showed on every try."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.Error:
        raise ConfigurationError(_UNREADABLE_URL) from None
    if "@" in str(parts.get("host", "")):
        raise ConfigurationError(_UNREADABLE_URL)
    # A bare `/` (base64's, `openssl rand -base64`) ends the part before the host: libpq read
    # `user:Zq/8+w=@db/twostep` as host `user`, port `Zq` and a database `8+w=@db/twostep`, and the
    # errors and log lines naming host, port and database showed the password. An `@` after the first `/`
    # and a port that is no number are both such a split.
    # Only a URL has such parts: in `key=value` form (`host=/run/postgresql password=a@b`) a `/` ends nothing.
    scheme_end = url.find("://")
    authority_end = url.find("/", scheme_end + 3) if scheme_end >= 0 else -1
    path = url[authority_end:].split("?", 1)[0] if authority_end >= 0 else ""
    ports = str(parts.get("port", "")).split(",")
    if "@" in path or not all(port.isdigit() for port in ports if port):
        raise ConfigurationError(_UNREADABLE_URL)


def _set_up(conn: psycopg.Connection[Row], statement_timeout_ms: int) -> None:
    """Once per new connection, in one round trip: times come back as UTC datetimes whatever the server's
    default zone, and a statement still running (or waiting for a lock) after the timeout is cancelled.

    Without a statement timeout a request waited as long as the server was slow or a table locked (a
    maintenance `LOCK TABLE`, a long `ALTER`): 30 s locked, 30 s of waiting, the pool's connections all
    held meanwhile and later requests failing only after their own wait for one.
    """
    conn.execute(
        "SELECT set_config('TimeZone', 'UTC', false), set_config('statement_timeout', %s, false)",
        (str(statement_timeout_ms),),
        prepare=False,
    )


def as_is(when: datetime) -> datetime:
    """A moment as a `timestamptz` column takes and gives it (UTC, see `_set_up`): the datetime itself."""
    return when


class PostgresConnections:
    """A bounded pool of autocommit connections shared by threads (safe for a thread pool's churn)."""

    def __init__(self, url: str, *, pool_size: int = 10, timeout_seconds: float = 10.0) -> None:
        """Raises: ConfigurationError (a URL libpq cannot read: its pool would log libpq's message, which
        quotes the whole URL, password included, on every try; a psycopg too old)."""
        _check_psycopg()
        _check_readable(url)
        self._where = describe(url)
        self._timeout = timeout_seconds
        self.unreachable = False  # the pool gave up connecting, and has not connected since
        # How long a request waits for a connection: the pool's timeout (None), or a short wait from the
        # moment a connection broke or the pool gave up until a connection or a statement works again.
        self._wait: float | None = None
        self._pool = RecentFirstPool(
            url,
            connection_class=PooledConnection,
            min_size=1,
            max_size=pool_size,
            timeout=timeout_seconds,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "connect_timeout": max(1, round(timeout_seconds)),
                # The record statements are a small fixed set run over and over: prepared on their first
                # use, the server parses and plans each once per connection, not on its first five runs.
                "prepare_threshold": 0,
            },
            configure=self._configure,
            reconnect_timeout=RECONNECT_SECONDS,
            reconnect_failed=self._note_unreachable,
            name="twostep",
            open=False,
        )
        self._pool.open(wait=False)
        self.statements = 0  # counted for the benchmarks (storage requests per sign-in)
        self.trace: list[tuple[str, Sequence[Any]]] | None = None  # the benchmarks' query-plan check

    def _configure(self, conn: psycopg.Connection[Row]) -> None:
        """Each new connection: times in UTC, statements bounded by the timeout, and the server is
        reachable (again)."""
        if isinstance(conn, PooledConnection):
            conn.reply_timeout = self._timeout + REPLY_GRACE_SECONDS
        _set_up(conn, max(1, round(self._timeout * 1000)))
        self._note_reachable()

    def _note_reachable(self) -> None:
        if self._wait is not None:
            self._wait = None
            if self.unreachable:
                self.unreachable = False
                logger.info("database %s reachable again", self._where)

    def _note_unreachable(self, _pool: object) -> None:
        self._wait = UNREACHABLE_WAIT_SECONDS
        if not self.unreachable:
            self.unreachable = True
            logger.error("database %s unreachable: answering 503 until it connects", self._where)

    @contextmanager
    def _guard(self, *, unique: bool = False) -> Iterator[PooledConnection]:
        """A pooled connection for one statement or transaction; driver errors become 503.

        With `unique`, a uniqueness violation is passed on for the caller to turn into its domain error.
        """
        try:
            # getconn/putconn rather than `pool.connection()`: that also enters the connection's own
            # context, whose commit is a no-op in autocommit; `putconn` rolls back a transaction left
            # open and replaces a broken connection, as `pool.connection()` would.
            conn = self._live_connection()
        except psycopg.Error as exc:  # PoolTimeout: no connection in time (server gone, pool full)
            # When the pool's last try to connect failed, that is why (libpq's words: a refused password,
            # an untrusted certificate, a pg_hba.conf refusal), not the wait: it was the PoolTimeout alone.
            raise StorageUnavailable() from (self._pool.last_failure or exc)
        try:
            yield conn
        except psycopg.errors.UniqueViolation:
            if unique:
                raise
            raise StorageUnavailable() from None
        except psycopg.Error as exc:
            # OperationalError (server gone), the rest: the pool drops a broken connection. After a
            # broken one, until a connection works again, no request waits long for another.
            if conn.broken:
                self._wait = UNREACHABLE_WAIT_SECONDS
            raise StorageUnavailable() from exc
        else:
            # A retry chain can give up while other connections still work (the server full for a
            # moment): any statement that ran says the server is there.
            self._note_reachable()
        finally:
            if conn.stale_plans:
                conn.close()  # the pool replaces a closed connection with a fresh one, nothing prepared
            self._pool.putconn(conn)

    def _live_connection(self) -> PooledConnection:
        """A pooled connection the server has not ended while it sat idle.

        After a restart every idle connection is dead, and the first request to take each answered 503,
        one per pooled connection, with the server already back. An ended one is dropped (the pool
        opens a fresh one) before anything was sent on it, so taking another is always safe.

        Raises: psycopg.Error (PoolTimeout: no connection in time).
        """
        for _ in range(self._pool.max_size):
            conn = self._pool.getconn(self._wait)
            if not conn.ended_by_server():
                return conn
            # A fresh connection is opened for the next try: wait only briefly for it, as after a broken
            # one, in case the server is still down.
            self._wait = UNREACHABLE_WAIT_SECONDS
            conn.close()
            self._pool.putconn(conn)
        return self._pool.getconn(self._wait)

    def _run(
        self, conn: psycopg.Connection[Row], sql: str, params: Sequence[Any] = ()
    ) -> psycopg.Cursor[Row]:
        """Every record statement goes through here: counted, and traced when a benchmark asks.

        The cursor returned is the connection's kept one (`PooledConnection`): read its result before
        running the next statement on the same connection.
        """
        self.statements += 1
        if self.trace is not None:
            self.trace.append((sql, params))
        if isinstance(conn, PooledConnection):
            return conn.run(sql, params)
        return conn.execute(sql, params)

    def _execute(self, sql: str, params: Sequence[Any] = (), *, unique: bool = False) -> int:
        """Runs one statement; returns the number of rows it changed."""
        with self._guard(unique=unique) as conn:
            return self._run(conn, sql, params).rowcount

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        with self._guard() as conn:
            return self._run(conn, sql, params).fetchone()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._guard() as conn:
            return self._run(conn, sql, params).fetchall()

    def init_schema(self) -> None:
        self.migrate()

    def migrate(self) -> list[int]:
        """Apply the missing schema steps in one transaction under an advisory lock (two processes
        starting at once: the second waits, then finds nothing to do). Returns the versions applied now.

        Raises: StorageUnavailable naming the server (never the password), for a one-line failure.
        """
        try:
            return self._migrate()
        except StorageUnavailable as exc:
            cause = exc.__cause__ or exc
            # libpq's first line (a second one repeats it for another try, or gives advice); it names host,
            # port and user, never the password.
            said = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
            raise StorageUnavailable(f"Cannot use the PostgreSQL database {self._where}: {said}") from cause

    def _migrate(self) -> list[int]:
        with self._unbounded_transaction() as conn:
            return self._apply(conn)

    @contextmanager
    def _unbounded_transaction(self) -> Iterator[PooledConnection]:
        """A transaction on a pooled connection with neither the statement timeout nor the bound on a
        reply: for `storage migrate`'s work (schema steps, the pass over every stored address), which may
        take long on a large table, and may wait for another process's migration or its row locks."""
        with self._guard() as conn:
            bound, conn.reply_timeout = conn.reply_timeout, None
            try:
                with conn.transaction():
                    conn.execute("SET LOCAL statement_timeout = 0", prepare=False)
                    yield conn
            finally:
                conn.reply_timeout = bound

    def _apply(self, conn: PooledConnection) -> list[int]:
        """The missing schema steps, in the caller's transaction."""
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        conn.execute(POSTGRES_LEDGER)
        applied = {int(row["version"]) for row in conn.execute("SELECT version FROM schema_migrations")}
        steps = pending(applied)
        for step in steps:
            if callable(step.postgres):  # a step over rows (step 21), in this transaction
                step.postgres(conn)
            else:
                # Several statements: allowed without parameters, never as one prepared statement.
                conn.execute(step.postgres, prepare=False)
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (step.version,))
        return [step.version for step in steps]

    def ping(self) -> None:
        self._one("SELECT 1")

    def close(self) -> None:
        self._pool.close()

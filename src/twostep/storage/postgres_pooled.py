"""A pool's PostgreSQL connection and the pool itself, tuned for twostep's record statements.

`PooledConnection` runs the statements on one kept cursor with `$n` placeholders, bounds every wait for a
reply, and tells whether the server ended it while it sat idle; `RecentFirstPool` hands out the
connection returned last. `PostgresConnections` (storage/postgres_connection.py) builds on both.
"""

from __future__ import annotations

import select
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
from psycopg.abc import PQGen
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

Row = dict[str, Any]
Result = TypeVar("Result")

# How often psycopg wakes while it waits for a reply (its own default), to see signals.
WAIT_INTERVAL_SECONDS = 0.1


@lru_cache(maxsize=512)
def numbered(sql: str) -> str:
    """A statement written with psycopg's `%s` placeholders, in PostgreSQL's own `$1, $2, …` form.

    Converted once per statement text: psycopg converts each statement with a regular expression on
    every run and keeps the result only for statements of at most 50 parameters, so the SMS
    admission batch (~80 parameters, 2 KiB) was split again on every sign-in (~85 µs of client CPU
    hot). `%%` stands for a literal `%`; any other `%` is refused, as psycopg refuses it.
    """
    parts = sql.split("%")
    out = [parts[0]]
    count = 0
    literal = False
    for part in parts[1:]:
        if literal:  # the part after `%%`
            out.append(part)
            literal = False
        elif part.startswith("s"):
            count += 1
            out.append(f"${count}{part[1:]}")
        elif part == "":
            out.append("%")
            literal = True
        else:
            raise ValueError(f"only %s placeholders and %% are allowed: {sql[:60]!r}")
    return "".join(out)


class PooledConnection(psycopg.Connection[Row]):
    """A pool's connection that runs the record statements on one cursor it keeps.

    A fresh cursor per statement looks its result's column loaders up again every time, about a fifth
    of the client's CPU for a one-row statement; a connection serves one thread at a time, so one
    cursor suffices. A statement's result is read before the next statement on the connection. The
    cursor takes `$n` placeholders (a raw cursor): each statement text is converted once (`numbered`).
    """

    _statement_cursor: psycopg.RawCursor[Row] | None = None
    # How long any reply may take (set for each new connection); None: as long as it takes (migrations).
    reply_timeout: float | None = None
    stale_plans = False  # its prepared statements were refused: the pool replaces it
    _idle_poller: select.poll | None = None

    def run(self, sql: str, params: Sequence[Any]) -> psycopg.Cursor[Row]:
        cursor = self._statement_cursor
        if cursor is None or cursor.closed:
            cursor = self._statement_cursor = psycopg.RawCursor(self, row_factory=dict_row)
        try:
            return cursor.execute(numbered(sql), params)
        except psycopg.errors.FeatureNotSupported as exc:
            if "cached plan" not in str(exc):
                raise
            # Another process's migration changed a table this statement reads whole (`SELECT *`), and
            # PostgreSQL refuses what this connection prepared before ("cached plan must not change result
            # type") every time. The pool replaces the connection (`PostgresConnections._guard`); outside
            # a transaction, nothing was done, so the statement runs now, unprepared.
            self.stale_plans = True
            if self.info.transaction_status != TransactionStatus.IDLE:
                raise
            return cursor.execute(numbered(sql), params, prepare=False)

    def wait(
        self, gen: PQGen[Result], interval: float = WAIT_INTERVAL_SECONDS, timeout: float | None = None
    ) -> Result:
        """psycopg's wait for the server, bounded by `reply_timeout`.

        The server's statement timeout cannot end a wait on a server that stopped answering (a paused VM,
        a stalled disk, a failover whose old host vanished without a reset): the kernel may still
        acknowledge, so the request waited as long as that lasted. Past the bound the connection, in
        an unknown state, is closed (the pool replaces it) and the error passed on.
        """
        try:
            return super().wait(gen, interval, self.reply_timeout if timeout is None else timeout)
        except psycopg.errors._WaitTimeout:  # psycopg's own, raised only for a timeout given to `wait`
            self.pgconn.finish()
            raise

    def ended_by_server(self) -> bool:
        """Whether the server ended this connection while it sat idle in the pool: a restart, a fast or
        immediate shutdown, `pg_terminate_backend`, `idle_session_timeout`.

        The server then sent its last message or closed the socket, so the socket reads as ready; an idle
        connection otherwise receives nothing (twostep never LISTENs). One poll without waiting (a
        system call, ~1 µs, no round trip) tells, before any statement is sent on it.
        """
        if self.closed:
            return True
        if self._idle_poller is None:  # kept: a connection's socket stays the same for its life
            self._idle_poller = select.poll()
            self._idle_poller.register(self.pgconn.socket, select.POLLIN)
        return bool(self._idle_poller.poll(0))


class RecentFirstPool(ConnectionPool[PooledConnection]):
    """psycopg_pool's pool, but it hands out the connection returned last, not the one idle longest.

    Handing out the longest idle one walks every statement round all the pool's connections, so each
    wakes a backend that went to sleep and whose caches went cold (measured: ~15-25% more server CPU
    per statement with 6 pooled connections and gaps between statements, as a request's hashing makes).
    Newest first keeps a process's statements on the few backends its concurrency needs; the idle
    ones stay at the front, where the pool's shrinking closes them after `max_idle`. It also keeps the
    last failure to connect, which psycopg_pool only logs.
    """

    # The pool's last failed try to connect, until one succeeds: what a request that got no connection
    # names as its cause (a refused password, an untrusted certificate), not merely that it waited.
    last_failure: psycopg.Error | None = None

    def _connect(self, timeout: float | None = None) -> PooledConnection:
        try:
            conn = super()._connect(timeout)
        except psycopg.Error as exc:
            self.last_failure = exc
            raise
        self.last_failure = None
        return conn

    def _get_ready_connection(self, timeout: float | None) -> PooledConnection | None:
        # Called under the pool's lock; the base takes the front one: bring the newest there first.
        self._pool.rotate(1)
        return super()._get_ready_connection(timeout)

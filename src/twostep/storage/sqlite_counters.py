"""SQLite: a batch of counter changes as one multi-row upsert (`CounterStore.change_counters`).

A batch with limits is all or nothing. It first runs as one autocommit statement, where an explicit
transaction takes three (BEGIN IMMEDIATE, the upsert, COMMIT) and holds the write lock while Python
reads the values back: a change that would pass its limit sets the value NULL, which the NOT NULL column
refuses, so the statement fails and changes nothing. Only then does the batch run again in a
transaction that reads the values back and rolls back, which names the first refused change and its
Retry-After.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from twostep.domain.counter_batch import (
    CounterBatch,
    CounterChange,
    Unless,
    check_batch,
    first_refused,
)
from twostep.storage.sql_counter_batch import batch_answer, counter_values, held_parameters, held_sql
from twostep.storage.sqlite_connection import SqliteConnections, epoch, moment


def upsert_counters(changes: Sequence[CounterChange], unless: Sequence[Unless], capped: int = 0) -> str:
    """One statement for the whole batch: each row adds to a live counter or (re)starts it, and
    returns its state. Restarts are named by key, as the upsert sees only the table's columns. With
    `unless`, the rows come from a SELECT that yields none while one of those counters holds. With
    `capped` (pairs of key and limit, after the restart keys), a live counter the change would take past
    its limit is set NULL, which the NOT NULL column refuses: the statement fails and changes nothing."""
    restarts = sum(1 for c in changes if c.restart)
    return _upsert_sql(len(changes), restarts, tuple(_shape(u) for u in unless), capped)


def _shape(guard: Unless) -> Unless:
    """What of a guard its SQL text depends on (not its key: a parameter)."""
    return Unless("", None if guard.at_least is None else 0, guard.blocked_prefix)


# A sign-in writes a few batch shapes over and over; the text is built once per shape.
@functools.lru_cache(maxsize=64)
def _upsert_sql(count: int, restarts: int, unless: tuple[Unless, ...], capped: int) -> str:
    rows = ", ".join("(?, ?, ?)" for _ in range(count))
    again = "expires_at <= ?" + (
        f" OR excluded.key IN ({', '.join('?' for _ in range(restarts))})" if restarts else ""
    )
    source = f"VALUES {rows}"
    if unless:
        held = " AND ".join(f"NOT EXISTS ({held_sql(u, '?')})" for u in unless)
        source = f"SELECT column1, column2, column3 FROM ({source}) WHERE {held}"  # noqa: S608 (placeholders only)
    added = "value + excluded.value"
    past = ""
    if capped:
        # A (re)started counter holds just the amount, checked against its limit before the statement.
        past = f" WHEN {added} > CASE excluded.key{' WHEN ? THEN ?' * capped} END THEN NULL"
    return (
        f"INSERT INTO counters (key, value, expires_at) {source} ON CONFLICT (key) DO UPDATE SET"
        f" value = CASE WHEN {again} THEN excluded.value{past} ELSE {added} END,"
        f" expires_at = CASE WHEN {again} THEN excluded.expires_at ELSE expires_at END"
        " RETURNING key, value, expires_at"
    )


def upsert_parameters(
    changes: Sequence[CounterChange], now: float | None, unless: Sequence[Unless], caps: Sequence[object] = ()
) -> list[object]:
    restart = [c.key for c in changes if c.restart]
    values: list[object] = [v for c in changes for v in (c.key, c.amount, epoch(c.expires_at))]
    guard = [v for u in unless for v in held_parameters(u, now)]
    return [*values, *guard, now, *restart, *caps, now, *restart]


class SqliteCounters(SqliteConnections):
    def change_counters(
        self, changes: Sequence[CounterChange], now: datetime, unless: Sequence[Unless] = ()
    ) -> CounterBatch:
        check_batch(changes)
        if not changes:
            return CounterBatch(None, (), ())
        at = epoch(now)
        limited = [c for c in changes if c.limit is not None]
        with self._guard() as conn:
            self.statements += 1
            if not limited:  # one statement is atomic on its own
                sql, params = upsert_counters(changes, unless), upsert_parameters(changes, at, unless)
                return batch_answer(changes, conn.execute(sql, params).fetchall(), None, unless, moment)
            # An amount alone past its limit refuses a (re)started counter: straight to the exact way.
            if all(c.limit is None or c.amount <= c.limit for c in changes):
                caps = [v for c in limited for v in (c.key, c.limit)]
                sql = upsert_counters(changes, unless, len(limited))
                try:
                    rows = conn.execute(sql, upsert_parameters(changes, at, unless, caps)).fetchall()
                except sqlite3.IntegrityError as exc:
                    if exc.sqlite_errorcode != sqlite3.SQLITE_CONSTRAINT_NOTNULL:
                        raise
                else:  # applied, or (no rows) an `unless` held and nothing changed
                    return batch_answer(changes, rows, None, unless, moment)
                self.statements += 1  # a limit would be passed: nothing changed; the transaction says which
            sql, params = upsert_counters(changes, unless), upsert_parameters(changes, at, unless)
            conn.execute("BEGIN IMMEDIATE")
            try:
                rows = conn.execute(sql, params).fetchall()
                refused = first_refused(changes, counter_values(changes, rows, moment)[0]) if rows else None
                conn.execute("COMMIT" if refused is None else "ROLLBACK")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return batch_answer(changes, rows, refused, unless, moment)

"""SQLite: a batch of counter changes as one multi-row upsert (`CounterStore.change_counters`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from twostep.domain.counter_batch import (
    STOPPED,
    CounterBatch,
    CounterChange,
    Unless,
    check_batch,
    first_refused,
)
from twostep.storage.sqlite_connection import SqliteConnections, epoch, moment


def upsert_counters(changes: Sequence[CounterChange], unless: Sequence[Unless]) -> str:
    """One statement for the whole batch: each row adds to a live counter or (re)starts it, and
    returns its state. Restarts are named by key, as the upsert sees only the table's columns. With
    `unless`, the rows come from a SELECT that yields none while one of those counters holds."""
    rows = ", ".join("(?, ?, ?)" for _ in changes)
    restart = [c for c in changes if c.restart]
    again = "expires_at <= ?" + (
        f" OR excluded.key IN ({', '.join('?' for _ in restart)})" if restart else ""
    )
    source = f"VALUES {rows}"
    if unless:
        held = " OR ".join("key = ?" if u.at_least is None else "(key = ? AND value >= ?)" for u in unless)
        source = (
            f"SELECT column1, column2, column3 FROM ({source}) WHERE NOT EXISTS"  # noqa: S608 (placeholders only)
            f" (SELECT 1 FROM counters WHERE ({held}) AND expires_at > ?)"
        )
    return (
        f"INSERT INTO counters (key, value, expires_at) {source} ON CONFLICT (key) DO UPDATE SET"
        f" value = CASE WHEN {again} THEN excluded.value ELSE value + excluded.value END,"
        f" expires_at = CASE WHEN {again} THEN excluded.expires_at ELSE expires_at END"
        " RETURNING key, value, expires_at"
    )


def upsert_parameters(
    changes: Sequence[CounterChange], now: float | None, unless: Sequence[Unless]
) -> list[object]:
    restart = [c.key for c in changes if c.restart]
    values: list[object] = [v for c in changes for v in (c.key, c.amount, epoch(c.expires_at))]
    guard: list[object] = [
        v for u in unless for v in ((u.key,) if u.at_least is None else (u.key, u.at_least))
    ]
    guard += [now] if unless else []
    return [*values, *guard, now, *restart, now, *restart]


class SqliteCounters(SqliteConnections):
    def change_counters(
        self, changes: Sequence[CounterChange], now: datetime, unless: Sequence[Unless] = ()
    ) -> CounterBatch:
        check_batch(changes)
        if not changes:
            return CounterBatch(None, (), ())
        sql = upsert_counters(changes, unless)
        params = upsert_parameters(changes, epoch(now), unless)
        limited = any(change.limit is not None for change in changes)
        with self._guard() as conn:
            self.statements += 1
            if not limited:  # one statement is atomic on its own
                return _batch(changes, conn.execute(sql, params).fetchall(), None, unless)
            conn.execute("BEGIN IMMEDIATE")
            try:
                rows = conn.execute(sql, params).fetchall()
                refused = first_refused(changes, _values(changes, rows)[0]) if rows else None
                conn.execute("COMMIT" if refused is None else "ROLLBACK")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return _batch(changes, rows, refused, unless)


def _values(
    changes: Sequence[CounterChange], rows: list[sqlite3.Row]
) -> tuple[list[int | None], list[datetime | None]]:
    by_key = {str(row["key"]): row for row in rows}  # RETURNING order is not the VALUES order
    found = [by_key.get(change.key) for change in changes]
    values = [None if row is None else int(row["value"]) for row in found]
    return values, [None if row is None else moment(row["expires_at"]) for row in found]


def _batch(
    changes: Sequence[CounterChange], rows: list[sqlite3.Row], refused: int | None, unless: Sequence[Unless]
) -> CounterBatch:
    if unless and not rows:  # every change yields a row unless the guard held them all back
        return STOPPED
    values, expiries = _values(changes, rows)
    return CounterBatch(refused, tuple(values), tuple(expiries))

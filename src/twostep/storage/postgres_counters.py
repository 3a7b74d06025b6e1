"""PostgreSQL: a batch of counter changes as one multi-row upsert (`CounterStore.change_counters`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg

from twostep.domain.counter_batch import (
    STOPPED,
    CounterBatch,
    CounterChange,
    Unless,
    check_batch,
    first_refused,
)
from twostep.storage.postgres_connection import PostgresConnections, Row


def upsert_counters(count: int, unless: Sequence[Unless]) -> str:
    """One statement for the whole batch: each row adds to a live counter or (re)starts it (the
    restarted keys are one array parameter), and returns its state. With `unless`, the rows come from
    a SELECT that yields none while one of those counters holds."""
    rows = ", ".join("(%s::text, %s::bigint, %s::timestamptz)" for _ in range(count))
    source = f"VALUES {rows}"
    if unless:
        held = " AND ".join(f"NOT EXISTS ({_held(u)})" for u in unless)
        source = f"SELECT k, a, e FROM ({source}) AS v (k, a, e) WHERE {held}"  # noqa: S608 (placeholders only)
    again = "c.expires_at <= %s OR EXCLUDED.key = ANY(%s)"
    return (
        f"INSERT INTO counters AS c (key, value, expires_at) {source} ON CONFLICT (key) DO UPDATE SET"
        f" value = CASE WHEN {again} THEN EXCLUDED.value ELSE c.value + EXCLUDED.value END,"
        f" expires_at = CASE WHEN {again} THEN EXCLUDED.expires_at ELSE c.expires_at END"
        " RETURNING key, value, expires_at"
    )


def _held(guard: Unless) -> str:
    if guard.blocked_prefix:
        return "SELECT 1 FROM prefix_blocks WHERE prefix = %s AND until > %s"
    least = "" if guard.at_least is None else " AND value >= %s"
    return f"SELECT 1 FROM counters WHERE key = %s AND expires_at > %s{least}"  # noqa: S608 (placeholders only)


class PostgresCounters(PostgresConnections):
    def change_counters(
        self, changes: Sequence[CounterChange], now: datetime, unless: Sequence[Unless] = ()
    ) -> CounterBatch:
        check_batch(changes)
        if not changes:
            return CounterBatch(None, (), ())
        restart = [c.key for c in changes if c.restart]
        params: list[object] = [v for c in changes for v in (c.key, c.amount, c.expires_at)]
        for guard in unless:
            plain = guard.at_least is None or guard.blocked_prefix
            params += [guard.key, now] if plain else [guard.key, now, guard.at_least]
        params += [now, restart, now, restart]
        sql = upsert_counters(len(changes), unless)
        limited = any(change.limit is not None for change in changes)
        refused: int | None = None
        with self._guard() as conn:
            if not limited:  # one statement is atomic on its own
                return _batch(changes, self._run(conn, sql, params).fetchall(), None, unless)
            with conn.transaction():
                rows = self._run(conn, sql, params).fetchall()
                refused = first_refused(changes, _values(changes, rows)[0]) if rows else None
                if refused is not None:
                    raise psycopg.Rollback()
        return _batch(changes, rows, refused, unless)


def _values(
    changes: Sequence[CounterChange], rows: list[Row]
) -> tuple[list[int | None], list[datetime | None]]:
    by_key = {str(row["key"]): row for row in rows}
    found = [by_key.get(change.key) for change in changes]
    values = [None if row is None else int(row["value"]) for row in found]
    return values, [None if row is None else row["expires_at"] for row in found]


def _batch(
    changes: Sequence[CounterChange], rows: list[Row], refused: int | None, unless: Sequence[Unless]
) -> CounterBatch:
    if unless and not rows:  # every change yields a row unless the guard held them all back
        return STOPPED
    values, expiries = _values(changes, rows)
    return CounterBatch(refused, tuple(values), tuple(expiries))

"""PostgreSQL: a batch of counter changes as one multi-row upsert (`CounterStore.change_counters`).

A batch with limits is all or nothing. It first runs as one autocommit statement, one round trip
where an explicit transaction takes three (BEGIN, the upsert, COMMIT; every sign-in takes two
limited batches). That statement writes nothing when a limited counter it reads is already too full
for its change, and a change that would still pass its limit when it writes (a request that changed
the counter in between) divides by zero: the statement fails and changes nothing (PostgreSQL logs
that error, `division by zero`, without the row: a NOT NULL violation would log the failing row, its
key a phone number or an email; it takes such a race at the limit). Only then, or
when nothing was written, does the batch run again in a transaction that reads the values back and
rolls back, which names the first refused change and its Retry-After (or says an `unless` held).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg

from twostep.domain.counter_batch import (
    CounterBatch,
    CounterChange,
    Unless,
    check_batch,
    first_refused,
)
from twostep.storage.postgres_connection import PostgresConnections, as_is
from twostep.storage.sql_counter_batch import batch_answer, counter_values, held_parameters, held_sql

AGAIN = "c.expires_at <= %s OR EXCLUDED.key = ANY(%s)"  # the change (re)starts the counter
# A live counter that this change would take past its limit (read before the write).
FULL = "SELECT 1 FROM counters WHERE key = %s AND expires_at > %s AND value + %s::bigint > %s::bigint"


def upsert_counters(count: int, unless: Sequence[Unless], limited_keys: int = 0, full: int = 0) -> str:
    """One statement for the whole batch: each row adds to a live counter or (re)starts it (the
    restarted keys are one array parameter), and returns its state. With `unless`, the rows come from
    a SELECT that yields none while one of those counters holds; so with `full` such reads of a live
    counter too full for its change (key, now, amount, limit each). With `limited_keys` (pairs of
    key and limit, after the restart array), a live counter the change would take past its limit
    divides by zero: the statement fails and changes nothing."""
    rows = ", ".join("(%s::text, %s::bigint, %s::timestamptz)" for _ in range(count))
    source = f"VALUES {rows}"
    guards = [f"NOT EXISTS ({held_sql(u, '%s')})" for u in unless] + [f"NOT EXISTS ({FULL})"] * full
    if guards:
        held = " AND ".join(guards)
        source = f"SELECT k, a, e FROM ({source}) AS v (k, a, e) WHERE {held}"  # noqa: S608 (placeholders only)
    added = "c.value + EXCLUDED.value"
    value = f"CASE WHEN {AGAIN} THEN EXCLUDED.value ELSE {added} END"
    if limited_keys:
        # A (re)started counter holds just the amount, checked against its limit before the statement.
        limit = "CASE c.key" + " WHEN %s THEN %s::bigint" * limited_keys + " END"
        value = (
            f"CASE WHEN {AGAIN} THEN EXCLUDED.value WHEN {added} > {limit} THEN c.value / 0 ELSE {added} END"
        )
    return (
        f"INSERT INTO counters AS c (key, value, expires_at) {source} ON CONFLICT (key) DO UPDATE SET"
        f" value = {value}, expires_at = CASE WHEN {AGAIN} THEN EXCLUDED.expires_at ELSE c.expires_at END"
        " RETURNING key, value, expires_at"
    )


def counter_source_parameters(
    changes: Sequence[CounterChange], now: datetime, unless: Sequence[Unless]
) -> list[object]:
    params: list[object] = [v for c in changes for v in (c.key, c.amount, c.expires_at)]
    return params + [v for guard in unless for v in held_parameters(guard, now)]


def one_statement(
    changes: Sequence[CounterChange], now: datetime, unless: Sequence[Unless]
) -> tuple[str, list[object], bool] | None:
    """The batch as one autocommit statement: (SQL, parameters, limited), or None when only the
    transaction can say what happens (an amount alone past its limit refuses a (re)started counter).
    A limited statement that returns no row wrote nothing (a counter was too full, or an `unless`
    held); one that raises `DivisionByZero` hit a limit that a request passed in between."""
    restart = [c.key for c in changes if c.restart]
    source = counter_source_parameters(changes, now, unless)
    limited = [c for c in changes if c.limit is not None]
    if not limited:  # one statement is atomic on its own
        return upsert_counters(len(changes), unless), [*source, now, restart, now, restart], False
    if any(c.limit is not None and c.amount > c.limit for c in changes):
        return None
    live = [c for c in limited if not c.restart]
    full: list[object] = [v for c in live for v in (c.key, now, c.amount, c.limit)]
    caps: list[object] = [v for c in limited for v in (c.key, c.limit)]
    sql = upsert_counters(len(changes), unless, len(limited), len(live))
    return sql, [*source, *full, now, restart, *caps, now, restart], True


class PostgresCounters(PostgresConnections):
    def change_counters(
        self, changes: Sequence[CounterChange], now: datetime, unless: Sequence[Unless] = ()
    ) -> CounterBatch:
        check_batch(changes)
        if not changes:
            return CounterBatch(None, (), ())
        statement = one_statement(changes, now, unless)
        if statement is not None:
            sql, params, limited = statement
            with self._guard() as conn:
                try:
                    rows = self._run(conn, sql, params).fetchall()
                except psycopg.errors.DivisionByZero:
                    if not limited:
                        raise
                    rows = []  # a limit would be passed: nothing changed; the transaction below says which
            if rows or not limited:
                return batch_answer(changes, rows, None, unless, as_is)
            # Nothing written: a counter was too full, or an `unless` held; the exact way says which.
        return self.change_in_transaction(changes, now, unless)

    def change_in_transaction(
        self, changes: Sequence[CounterChange], now: datetime, unless: Sequence[Unless] = ()
    ) -> CounterBatch:
        """The batch in a transaction that reads the values back and rolls back past a limit."""
        restart = [c.key for c in changes if c.restart]
        params = [*counter_source_parameters(changes, now, unless), now, restart, now, restart]
        sql = upsert_counters(len(changes), unless)
        refused: int | None = None
        with self._guard() as conn, conn.transaction():
            rows = self._run(conn, sql, params).fetchall()
            refused = first_refused(changes, counter_values(changes, rows, as_is)[0]) if rows else None
            if refused is not None:
                raise psycopg.Rollback()
        return batch_answer(changes, rows, refused, unless, as_is)

"""A login attempt's counts and the account signing in, in one PostgreSQL statement (`find_user_counting`).

The counter batch's upsert (`one_statement`) is a data-modifying WITH query of the account read
(`FIND_SIGNING_IN`), joined to one row so the statement answers even when the batch returns no row
or there is no such account: each row carries one counter the batch returned and the account's
columns. A login's first step saves a round trip and a statement (a transaction of its own). Where
the batch cannot be one statement, or it wrote nothing or passed a limit, the counters take their
exact way (a transaction) as `change_counters` does, and the account is read on its own if the
statement failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg

from twostep.domain.counter_batch import CounterBatch, CounterChange, check_batch
from twostep.domain.factor_summary import EnrolledFactors
from twostep.domain.models import User
from twostep.storage.postgres_connection import as_is
from twostep.storage.postgres_counters import PostgresCounters, one_statement
from twostep.storage.postgres_users import PostgresUsers, user_of
from twostep.storage.sql_counter_batch import batch_answer
from twostep.storage.sql_factor_summary import FIND_SIGNING_IN, enrolled

ACCOUNT = FIND_SIGNING_IN.format(p="%s", id='users.id COLLATE "default"')


def counted_with_account(upsert: str) -> str:
    """The batch's upsert as a WITH query of the account read; its rows renamed so no account column
    (`key`, `value`) can shadow them."""
    rows = (
        "counted.key AS counted_key, counted.value AS counted_value, counted.expires_at AS counted_expires_at"
    )
    joined = f"FROM (SELECT) AS one LEFT JOIN counted ON true LEFT JOIN ({ACCOUNT}) AS account ON true"
    return f"WITH counted AS ({upsert}) SELECT {rows}, account.* {joined}"


class PostgresSignInCounts(PostgresUsers, PostgresCounters):
    def find_user_counting(
        self, email: str, changes: Sequence[CounterChange], now: datetime
    ) -> tuple[CounterBatch, tuple[User | None, EnrolledFactors | None]]:
        check_batch(changes)
        statement = one_statement(changes, now, ()) if changes else None
        if statement is None:
            return self.change_counters(changes, now), self.find_user_signing_in(email)
        sql, params, limited = statement
        with self._guard() as conn:
            try:
                rows = self._run(conn, counted_with_account(sql), [*params, email]).fetchall()
            except psycopg.errors.DivisionByZero:
                if not limited:
                    raise
                # A limit that a request passed in between: nothing changed; the exact way says which.
                return self.change_in_transaction(changes, now), self.find_user_signing_in(email)
        account = rows[0]
        found = (None, None) if account["id"] is None else (user_of(account), enrolled(account))
        counted = [
            {
                "key": row["counted_key"],
                "value": row["counted_value"],
                "expires_at": row["counted_expires_at"],
            }
            for row in rows
            if row["counted_key"] is not None
        ]
        if counted or not limited:
            return batch_answer(changes, counted, None, (), as_is), found
        # Nothing written: a counter was too full; the exact way says which.
        return self.change_in_transaction(changes, now), found

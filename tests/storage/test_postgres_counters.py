"""PostgreSQL counter batches with limits: one autocommit statement when every limit holds (not a
transaction of three round trips), and the exact transactional way only when a limit would be passed.
The conformance suite checks what a batch does on every backend; this checks how many statements it
costs here (the storage's own statement trace)."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from tests.contract.helpers import NOW
from twostep.domain.counter_batch import CounterChange, Unless
from twostep.storage.postgres import PostgresStorage
from twostep.storage.postgres_counters import upsert_counters

END = NOW + timedelta(seconds=60)


def _traced(
    storage: PostgresStorage, changes: list[CounterChange], unless: list[Unless] | None = None
) -> int:
    storage.trace = []
    storage.change_counters(changes, NOW, unless or [])
    statements = len(storage.trace)
    storage.trace = None
    return statements


def test_a_batch_within_its_limits_is_one_statement(storage: PostgresStorage) -> None:
    storage.increment_counter("hour", 2, NOW, END)
    batch = [CounterChange("hour", 1, END, limit=3, read=True), CounterChange("free", 1, END)]
    assert _traced(storage, batch, [Unless("lock")]) == 1
    assert storage.get_counter("hour", NOW).value == 3  # type: ignore[union-attr]
    assert storage.get_counter("free", NOW).value == 1  # type: ignore[union-attr]


def test_a_batch_past_a_live_counter_s_limit_changes_nothing_and_is_told_exactly(
    storage: PostgresStorage,
) -> None:
    storage.increment_counter("hour", 3, NOW, END + timedelta(seconds=30))
    changes = [CounterChange("free", 1, END), CounterChange("hour", 1, END, limit=3)]
    storage.trace = []
    batch = storage.change_counters(changes, NOW)
    assert len(storage.trace) == 2  # the one statement failed on the limit; the transaction named it
    assert batch.refused == 1 and batch.values[1] == 4 and batch.expiries[1] == END + timedelta(seconds=30)
    assert storage.get_counter("free", NOW) is None
    assert storage.get_counter("hour", NOW).value == 3  # type: ignore[union-attr]


def test_an_amount_alone_past_its_limit_goes_straight_to_the_exact_way(storage: PostgresStorage) -> None:
    assert _traced(storage, [CounterChange("cost", 7, END, limit=5)]) == 1
    assert storage.get_counter("cost", NOW) is None


def test_a_restarted_counter_is_checked_against_its_amount_only(storage: PostgresStorage) -> None:
    storage.increment_counter("w", 9, NOW, END)
    later = END + timedelta(seconds=1)  # "w" has ended: the change starts it again at 1
    storage.trace = []
    batch = storage.change_counters([CounterChange("w", 1, later + timedelta(seconds=60), limit=3)], later)
    assert batch.applied and len(storage.trace) == 1


def test_a_counter_filled_after_the_read_fails_the_whole_statement(storage: PostgresStorage) -> None:
    """The write's own check, for a request that filled the counter after the statement read it: the
    statement without its read-time check, on a counter already at its limit, fails as a whole."""
    storage.increment_counter("hour", 3, NOW, END)
    sql = upsert_counters(2, (), limited_keys=1, full=0)
    params = ["free", 1, END, "hour", 1, END, NOW, [], "hour", 3, NOW, []]
    with storage._guard() as conn, pytest.raises(psycopg.errors.DivisionByZero) as refused:
        storage._run(conn, sql, params)
    # PostgreSQL logs the error with its detail: no failing row there (a key holds a phone or an email).
    assert refused.value.diag.message_detail is None
    assert storage.get_counter("free", NOW) is None
    assert storage.get_counter("hour", NOW).value == 3  # type: ignore[union-attr]
    # The connection (returned last, so borrowed next) and its kept cursor serve the next batch.
    assert storage.change_counters([CounterChange("free", 1, END, limit=1, read=True)], NOW).values == (1,)


def test_an_unless_that_holds_stops_a_limited_batch(storage: PostgresStorage) -> None:
    storage.increment_counter("lock", 1, NOW, END)
    batch = storage.change_counters([CounterChange("hour", 1, END, limit=3)], NOW, [Unless("lock")])
    assert batch.stopped and storage.get_counter("hour", NOW) is None

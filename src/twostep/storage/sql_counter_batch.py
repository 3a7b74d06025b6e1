"""What the SQLite and PostgreSQL counter batches share: the `unless` reads and the batch's answer.

Each backend builds its own upsert (SQLite names restarts by key, PostgreSQL passes them as an array
and can refuse a passed limit inside the statement); both read the guards and hand back the rows the
same way, `p` being the driver's placeholder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from twostep.domain.counter_batch import STOPPED, CounterBatch, CounterChange, Unless


def held_sql(guard: Unless, p: str) -> str:
    """A SELECT that finds a row while `guard` holds (its parameters: `held_parameters`)."""
    if guard.blocked_prefix:
        return f"SELECT 1 FROM prefix_blocks WHERE prefix = {p} AND until > {p}"  # noqa: S608 (placeholders only)
    least = "" if guard.at_least is None else f" AND value >= {p}"
    return f"SELECT 1 FROM counters WHERE key = {p} AND expires_at > {p}{least}"  # noqa: S608 (placeholders only)


def held_parameters(guard: Unless, now: object) -> list[object]:
    """`held_sql`'s parameters, `now` as the backend stores a moment."""
    plain = guard.at_least is None or guard.blocked_prefix
    return [guard.key, now] if plain else [guard.key, now, guard.at_least]


def batch_answer(
    changes: Sequence[CounterChange],
    rows: Sequence[Mapping[str, Any]],
    refused: int | None,
    unless: Sequence[Unless],
    as_moment: Callable[[Any], datetime],
) -> CounterBatch:
    """The batch's outcome from the upsert's RETURNING rows (key, value, expires_at), in any order."""
    if unless and not rows:  # every change yields a row unless the guard held them all back
        return STOPPED
    values, expiries = counter_values(changes, rows, as_moment)
    return CounterBatch(refused, tuple(values), tuple(expiries))


def counter_values(
    changes: Sequence[CounterChange], rows: Sequence[Mapping[str, Any]], as_moment: Callable[[Any], datetime]
) -> tuple[list[int | None], list[datetime | None]]:
    """Each change's counter value and expiry as returned (None: no row for it)."""
    by_key = {str(row["key"]): row for row in rows}  # RETURNING order is not the VALUES order
    found = [by_key.get(change.key) for change in changes]
    values = [None if row is None else int(row["value"]) for row in found]
    return values, [None if row is None else as_moment(row["expires_at"]) for row in found]

"""Several counters changed in one storage request, all or nothing (`CounterStore.change_counters`).

A sign-in takes from up to a dozen limits (the caller's, the account's, the number's, the service's, the
money budgets, the fraud guard's count). Taking them one increment at a time costs a round trip each
and a compensating give-back when a later one refuses; a batch takes them together and refuses as a
whole, so nothing is ever taken and given back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime


@dataclass(frozen=True, slots=True)
class CounterChange:
    """One counter's part of a batch.

    `amount` is added to a live counter (keeping its expiry) or starts a missing or expired one with
    `expires_at`. With `limit`, the whole batch is refused when this counter would end above it.
    `restart` starts the counter afresh at `amount` with `expires_at` whatever it held (`forget` builds
    the restart that ends it now). `read`: the caller wants the value back (see `CounterBatch.values`).
    """

    key: str
    amount: int
    expires_at: datetime
    limit: int | None = None
    restart: bool = False
    read: bool = False


@dataclass(frozen=True, slots=True)
class Unless:
    """A record read with a batch: while it holds, the batch is stopped and nothing changes. By default
    the counter `key` being live (at `at_least` or more, when given: an account lock; a wrong-code
    count at its limit); with `blocked_prefix`, `key` is a destination prefix that is blocked now
    (`PrefixBlockStore`, the fraud guard)."""

    key: str
    at_least: int | None = None
    blocked_prefix: bool = False


def unless_blocked(prefix: str) -> Unless:
    """Stop the batch while `prefix` is blocked."""
    return Unless(prefix, blocked_prefix=True)


# Long past, not the forgetting request's `now`: an increment that read its clock before the forget but
# writes after it must still find the counter ended and start afresh, not add to a row ending "now" that
# its own older clock reads as live (a count that would then read as missing).
ENDED = datetime.fromtimestamp(0, UTC)


def forget(key: str) -> CounterChange:
    """The change that ends `key`: it reads as missing, and the next increment starts afresh."""
    return CounterChange(key, 0, ENDED, restart=True)


@dataclass(frozen=True, slots=True)
class CounterBatch:
    """What `change_counters` did.

    `stopped`: a counter of the batch's `unless` held, so nothing changed (checked before any limit).
    `refused`: None when every change applied; else the index of the first change (in the order given)
    whose limit the batch would pass, and nothing changed. `values[i]`: change i's counter value right
    after the batch (for a refused batch: what the refused change would have made it); None for a change
    that did not ask to `read` where the backend could not return it with the write. A backend that
    reads values after its write may show other requests' changes made meanwhile. `expiries[i]`, when
    known: when that counter ends (for the refused change: the live counter's end, its Retry-After).
    """

    refused: int | None
    values: tuple[int | None, ...]
    expiries: tuple[datetime | None, ...]
    stopped: bool = False  # an `Unless` held: nothing changed

    @property
    def applied(self) -> bool:
        return self.refused is None and not self.stopped


STOPPED = CounterBatch(None, (), (), stopped=True)


def check_batch(changes: Sequence[CounterChange]) -> None:
    """Raises: ValueError when a key appears twice (a batch changes each counter once)."""
    keys = [change.key for change in changes]
    if len(set(keys)) != len(keys):
        raise ValueError("a counter batch changes each key once")


def check_unlimited(changes: Sequence[CounterChange]) -> None:
    """Raises: ValueError for a batch written with another record (`add_session_counted`) that is
    empty, has a limit (such a batch may refuse) or a key twice."""
    check_batch(changes)
    if not changes or any(change.limit is not None for change in changes):
        raise ValueError("counters written with another record: at least one, none with a limit")


def first_refused(changes: Sequence[CounterChange], values: Sequence[int | None]) -> int | None:
    """The first change whose limit `values` pass (None: none do)."""
    for index, change in enumerate(changes):
        value = values[index]
        if change.limit is not None and value is not None and value > change.limit:
            return index
    return None

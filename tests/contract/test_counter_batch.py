"""Several counters in one request, all or nothing (`change_counters`), on every backend."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.contract.helpers import NOW, run_together
from twostep.domain.counter_batch import CounterBatch, CounterChange, Unless, forget, unless_blocked
from twostep.domain.ports import PrefixBlock, Storage

END = NOW + timedelta(seconds=60)


def test_a_batch_adds_to_every_counter_and_reads_them_back(storage: Storage) -> None:
    storage.increment_counter("a", 4, NOW, END)
    batch = storage.change_counters(
        [
            CounterChange("a", 2, END + timedelta(seconds=99), limit=10, read=True),
            CounterChange("b", 3, END, read=True),
        ],
        NOW,
    )
    assert batch.applied and batch.values == (6, 3)
    assert batch.expiries == (END, END)  # a live counter keeps its end; a new one takes the given one
    assert storage.get_counter("a", NOW).value == 6  # type: ignore[union-attr]
    assert storage.get_counter("b", NOW).value == 3  # type: ignore[union-attr]


def test_a_limit_refuses_the_whole_batch_and_names_the_first_one(storage: Storage) -> None:
    storage.increment_counter("day", 5, NOW, END)
    storage.increment_counter("hour", 2, NOW, END + timedelta(seconds=30))
    batch = storage.change_counters(
        [
            CounterChange("free", 1, END, read=True),
            CounterChange("hour", 1, END, limit=2),
            CounterChange("day", 1, END, limit=5),
        ],
        NOW,
    )
    assert batch.refused == 1 and not batch.applied
    assert batch.values[1] == 3 and batch.expiries[1] == END + timedelta(seconds=30)  # its Retry-After
    assert storage.get_counter("free", NOW) is None  # nothing was taken
    assert storage.get_counter("hour", NOW).value == 2  # type: ignore[union-attr]
    assert storage.get_counter("day", NOW).value == 5  # type: ignore[union-attr]


def test_an_amount_above_the_limit_is_refused_even_on_a_new_counter(storage: Storage) -> None:
    batch = storage.change_counters([CounterChange("n", 1, END), CounterChange("cost", 7, END, limit=5)], NOW)
    assert batch.refused == 1
    assert storage.get_counter("n", NOW) is None and storage.get_counter("cost", NOW) is None


def test_an_ended_counter_starts_again(storage: Storage) -> None:
    storage.increment_counter("w", 9, NOW, END)
    later = END + timedelta(seconds=1)
    new_end = later + timedelta(seconds=60)
    batch = storage.change_counters([CounterChange("w", 1, new_end, limit=3, read=True)], later)
    assert batch.applied and batch.values == (1,)
    live = storage.get_counter("w", later)
    assert live is not None and (live.value, live.expires_at) == (1, new_end)


def test_restart_and_forget(storage: Storage) -> None:
    storage.increment_counter("r", 7, NOW, END)
    storage.increment_counter("f", 3, NOW, END)
    new_end = END + timedelta(seconds=600)
    batch = storage.change_counters(
        [
            CounterChange("r", 2, new_end, restart=True, read=True),
            forget("f"),
            CounterChange("g", -1, END),
        ],
        NOW,
    )
    assert batch.applied and batch.values[0] == 2
    live = storage.get_counter("r", NOW)
    assert live is not None and (live.value, live.expires_at) == (2, new_end)
    assert storage.get_counter("f", NOW) is None
    assert storage.increment_counter("f", 1, NOW, END) == 1  # forgotten: starts afresh
    assert storage.get_counter("g", NOW).value == -1  # type: ignore[union-attr]


def test_a_key_twice_is_a_caller_error(storage: Storage) -> None:
    with pytest.raises(ValueError):
        storage.change_counters([CounterChange("k", 1, END), CounterChange("k", 1, END)], NOW)


def test_an_empty_batch_changes_nothing(storage: Storage) -> None:
    assert storage.change_counters([], NOW) == CounterBatch(None, (), ())


def test_concurrent_batches_never_pass_a_shared_cap(storage: Storage) -> None:
    """Twenty requests race for a cap of 8: exactly 8 batches apply, and only their own counters moved."""

    def take(i: int) -> bool:
        batch = storage.change_counters(
            [CounterChange(f"own-{i}", 1, END), CounterChange("cap", 1, END, limit=8)], NOW
        )
        return batch.applied

    results = run_together(20, take)
    assert all(isinstance(r, bool) for r in results), results
    applied = [i for i, r in enumerate(results) if r is True]
    assert len(applied) == 8
    assert storage.get_counter("cap", NOW).value == 8  # type: ignore[union-attr]
    assert {i for i in range(20) if storage.get_counter(f"own-{i}", NOW) is not None} == set(applied)


def test_concurrent_batches_and_give_backs_balance(storage: Storage) -> None:
    storage.change_counters([CounterChange("x", 10, END), CounterChange("y", 10, END)], NOW)
    run_together(
        20,
        lambda i: storage.change_counters(
            [CounterChange("x", 1 if i % 2 else -1, END), CounterChange("y", -1 if i % 2 else 1, END)], NOW
        ),
    )
    assert storage.get_counter("x", NOW).value == 10  # type: ignore[union-attr]
    assert storage.get_counter("y", NOW).value == 10  # type: ignore[union-attr]


def test_an_increment_with_an_older_clock_after_a_forget_starts_afresh(storage: Storage) -> None:
    """A wrong code's increment that read its clock before a right code's forget, but wrote after it,
    still counts: the forgotten counter reads as ended to any clock, not only to later ones."""
    storage.increment_counter("fails", 3, NOW, END)
    storage.change_counters([forget("fails")], NOW + timedelta(milliseconds=5))
    assert storage.increment_counter("fails", 1, NOW, END) == 1
    counted = storage.get_counter("fails", NOW)
    assert counted is not None and counted.value == 1


def test_a_live_counter_named_unless_stops_the_batch(storage: Storage) -> None:
    storage.increment_counter("lock", 1, NOW, END)
    storage.increment_counter("fails", 3, NOW, END)
    batch = storage.change_counters([forget("fails"), CounterChange("v", 1, END)], NOW, [Unless("lock")])
    assert batch.stopped and not batch.applied
    assert storage.get_counter("fails", NOW).value == 3  # type: ignore[union-attr]
    assert storage.get_counter("v", NOW) is None
    storage.delete_counter("lock")
    later = storage.change_counters(
        [forget("fails"), CounterChange("v", 1, END, limit=5, read=True)], NOW, [Unless("lock")]
    )
    assert later.applied and later.values[1] == 1
    assert storage.get_counter("fails", NOW) is None


def test_an_ended_counter_named_unless_does_not_stop_it(storage: Storage) -> None:
    storage.increment_counter("old-lock", 1, NOW, END)
    batch = storage.change_counters(
        [CounterChange("v", 1, END + timedelta(seconds=60))], END, [Unless("old-lock")]
    )
    assert batch.applied


def test_a_count_below_its_threshold_does_not_stop_the_batch(storage: Storage) -> None:
    storage.increment_counter("wrong", 4, NOW, END)
    assert storage.change_counters([CounterChange("v", 1, END)], NOW, [Unless("wrong", 5)]).applied
    storage.increment_counter("wrong", 1, NOW, END)
    assert storage.change_counters(
        [CounterChange("v", 1, END)], NOW, [Unless("missing"), Unless("wrong", 5)]
    ).stopped
    assert storage.get_counter("v", NOW).value == 1  # type: ignore[union-attr]


def test_a_blocked_prefix_stops_the_batch_until_its_block_ends(storage: Storage) -> None:
    storage.add_prefix_block(PrefixBlock("+4477009", NOW, END, sent=30, verified=0))
    guard = [unless_blocked("+4477009")]
    assert storage.change_counters([CounterChange("sent", 1, END)], NOW, guard).stopped
    assert storage.get_counter("sent", NOW) is None
    assert storage.change_counters([CounterChange("sent", 1, END)], NOW, [unless_blocked("+4477010")]).applied
    later = END + timedelta(seconds=1)
    assert storage.change_counters(
        [CounterChange("sent", 1, later + timedelta(seconds=60))], later, guard
    ).applied


def test_a_held_unless_stops_a_batch_whose_limit_would_also_refuse(storage: Storage) -> None:
    """The `unless` records are checked first: a batch both would hold back is stopped, not refused."""
    storage.increment_counter("lock", 1, NOW, END)
    storage.increment_counter("cap", 5, NOW, END)
    batch = storage.change_counters([CounterChange("cap", 1, END, limit=5)], NOW, [Unless("lock")])
    assert batch.stopped and batch.refused is None
    assert storage.get_counter("cap", NOW).value == 5  # type: ignore[union-attr]


def test_a_limited_restart_counts_from_its_amount_whatever_the_counter_held(storage: Storage) -> None:
    storage.increment_counter("r", 9, NOW, END)
    batch = storage.change_counters(
        [CounterChange("r", 1, END, limit=3, restart=True, read=True), CounterChange("s", 1, END, limit=1)],
        NOW,
    )
    assert batch.applied and batch.values[0] == 1
    assert storage.get_counter("r", NOW).value == 1  # type: ignore[union-attr]


def test_a_limit_counts_from_a_counter_given_back_below_zero(storage: Storage) -> None:
    storage.increment_counter("g", -2, NOW, END)
    assert storage.change_counters([CounterChange("g", 3, END, limit=1, read=True)], NOW).values == (1,)
    refused = storage.change_counters([CounterChange("g", 1, END, limit=1)], NOW)
    assert refused.refused == 0 and refused.values == (2,)
    assert storage.get_counter("g", NOW).value == 1  # type: ignore[union-attr]


def test_a_guard_on_a_counter_the_batch_forgets_reads_it_before_the_forget(storage: Storage) -> None:
    """A right code: forget the account's wrong-code count unless it already reached its limit."""
    storage.increment_counter("wrong", 2, NOW, END)
    stopped = storage.change_counters(
        [forget("wrong"), CounterChange("used", 1, END)], NOW, [Unless("wrong", at_least=2)]
    )
    assert stopped.stopped
    assert storage.get_counter("wrong", NOW).value == 2  # type: ignore[union-attr]
    assert storage.get_counter("used", NOW) is None
    applied = storage.change_counters(
        [forget("wrong"), CounterChange("used", 1, END)], NOW, [Unless("lock"), Unless("wrong", at_least=3)]
    )
    assert applied.applied and not applied.stopped
    assert storage.get_counter("wrong", NOW) is None
    assert storage.get_counter("used", NOW).value == 1  # type: ignore[union-attr]
    # A missing counter holds nothing, so the guard lets the batch through.
    assert storage.change_counters([forget("wrong")], NOW, [Unless("wrong", at_least=1)]).applied


def test_guarded_forgets_racing_with_increments_never_lose_a_stop(storage: Storage) -> None:
    """Wrong codes counted while right ones forget the count under a guard: each guarded forget either
    saw the count under its limit (and forgot it) or stopped; the count never goes below zero."""
    for round_ in range(3):
        key = f"race-{round_}"
        storage.increment_counter(key, 1, NOW, END)

        def act(index: int, key: str = key) -> bool | None:
            if index % 2:
                storage.increment_counter(key, 1, NOW, END)
                return None
            return storage.change_counters([forget(key)], NOW, [Unless(key, at_least=3)]).stopped

        results = run_together(6, act)
        assert not any(isinstance(result, BaseException) for result in results)
        left = storage.get_counter(key, NOW)
        assert left is None or 1 <= left.value <= 4

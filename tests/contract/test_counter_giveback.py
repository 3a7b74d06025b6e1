"""Counters take negative amounts: the limits give back a unit a refused request took (issue 6)."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.helpers import NOW, run_together
from twostep.domain.ports import Storage


def test_negative_amount_gives_back_and_keeps_expiry(storage: Storage) -> None:
    end = NOW + timedelta(seconds=60)
    storage.increment_counter("g", 1, NOW, end)
    storage.increment_counter("g", 1, NOW, end)
    assert storage.increment_counter("g", -1, NOW, end + timedelta(seconds=500)) == 1
    live = storage.get_counter("g", NOW)
    assert live is not None and live.value == 1 and live.expires_at == end


def test_giving_back_to_an_expired_counter_leaves_nothing_live(storage: Storage) -> None:
    end = NOW + timedelta(seconds=60)
    storage.increment_counter("e", 1, NOW, end)
    storage.increment_counter("e", -1, end, end)  # the window ended before the give-back
    assert storage.get_counter("e", end) is None
    assert storage.increment_counter("e", 1, end, end + timedelta(seconds=60)) == 1


def test_concurrent_take_and_give_back_balance(storage: Storage) -> None:
    end = NOW + timedelta(seconds=60)
    storage.increment_counter("b", 5, NOW, end)
    run_together(40, lambda i: storage.increment_counter("b", 1 if i % 2 else -1, NOW, end))
    assert storage.get_counter("b", NOW).value == 5  # type: ignore[union-attr]

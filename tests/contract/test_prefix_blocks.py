"""The fraud guard's storage, on every backend: prefix blocks (one live block per prefix, stored by one
conditional write) and its counters (the shared atomic counters, with amounts larger than one)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from tests.contract.helpers import NOW, run_together
from twostep.domain.ports import PrefixBlock, Storage


def block(prefix: str = "+4477009001", minutes: int = 60, at_minute: int = 0) -> PrefixBlock:
    at = NOW + timedelta(minutes=at_minute)
    return PrefixBlock(prefix, at, at + timedelta(minutes=minutes), sent=25, verified=1)


def test_a_block_is_stored_read_listed_and_lifted(storage: Storage) -> None:
    assert storage.add_prefix_block(block()) is True
    assert storage.add_prefix_block(block("+1900555")) is True
    stored = storage.get_prefix_block("+4477009001", NOW)
    assert stored == block()
    assert [b.prefix for b in storage.list_prefix_blocks(NOW)] == ["+1900555", "+4477009001"]
    assert storage.delete_prefix_block("+4477009001") is True
    assert storage.get_prefix_block("+4477009001", NOW) is None
    assert storage.delete_prefix_block("+4477009001") is False
    assert [b.prefix for b in storage.list_prefix_blocks(NOW)] == ["+1900555"]


def test_a_live_block_is_not_replaced_an_expired_one_is(storage: Storage) -> None:
    assert storage.add_prefix_block(block(minutes=60)) is True
    assert storage.add_prefix_block(block(minutes=600, at_minute=30)) is False
    live = storage.get_prefix_block("+4477009001", NOW + timedelta(minutes=30))
    assert live is not None and live.until == NOW + timedelta(minutes=60)
    later = NOW + timedelta(minutes=61)
    assert storage.get_prefix_block("+4477009001", later) is None
    assert storage.list_prefix_blocks(later) == []
    assert storage.add_prefix_block(block(minutes=60, at_minute=61)) is True
    renewed = storage.get_prefix_block("+4477009001", later)
    assert renewed is not None and renewed.until == NOW + timedelta(minutes=121)


def test_racing_blocks_of_one_prefix_store_exactly_one(storage: Storage) -> None:
    results = run_together(12, lambda i: storage.add_prefix_block(block(minutes=60 + i)))
    assert results.count(True) == 1, results
    assert all(r is False for r in results if r is not True)


def test_money_counters_add_large_amounts_atomically(storage: Storage) -> None:
    """The budget takes a message's price (micro-dollars) in one increment and gives it back the same way."""
    end = NOW + timedelta(hours=1)
    results = run_together(10, lambda i: storage.increment_counter("budget:all@3600:0", 93_600, NOW, end))
    assert sorted(r for r in results if isinstance(r, int)) == [93_600 * n for n in range(1, 11)]
    assert storage.increment_counter("budget:all@3600:0", -93_600, NOW, end) == 9 * 93_600
    counter = storage.get_counter("budget:all@3600:0", NOW)
    assert counter is not None and counter.value == 9 * 93_600


def test_every_live_block_is_listed_however_many_have_ended(storage: Storage) -> None:
    """DynamoDB read one page of 1000 listed blocks and dropped the ended ones afterwards; ended blocks stay
    on its index until their TTL (a day past `until`), so after a busy fraud wave `twostep fraud status`
    showed no live block at all. Every live block is listed, in prefix order."""
    ended = [block(f"+1{n:04d}", minutes=60, at_minute=-120) for n in range(1001)]
    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(storage.add_prefix_block, ended))
    live = [block("+2000"), block("+0999")]  # one listed before the ended ones, one after
    for each in live:
        assert storage.add_prefix_block(each) is True
    assert storage.list_prefix_blocks(NOW) == sorted(live, key=lambda b: b.prefix)

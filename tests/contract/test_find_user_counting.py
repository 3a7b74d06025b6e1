"""`find_user_counting`: a login attempt's counter batch and the account signing in, in one storage
request where the backend can (PostgreSQL). The batch behaves as `change_counters` (all or nothing,
limits, races at a limit) and the account read agrees with `find_user_signing_in` whatever the
batch did, on every backend."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.helpers import NOW, make_user, run_together
from tests.contract.test_factors import passkey
from twostep.domain.counter_batch import CounterChange
from twostep.domain.ports import Storage

END = NOW + timedelta(seconds=60)
EMAIL = "counting@example.com"


def attempt(limit: int = 5, amount: int = 1) -> list[CounterChange]:
    """A login attempt's shape: the IP's rate, this client's and the account's failures."""
    return [
        CounterChange("ip", amount, END, limit=1000, read=True),
        CounterChange("client", amount, END, limit=limit, read=True),
        CounterChange("account", amount, END, limit=100, read=True),
    ]


def test_the_batch_applies_and_the_account_comes_with_it(storage: Storage) -> None:
    user = make_user(email=EMAIL)
    storage.add_user(user)
    storage.add_passkey(passkey(user_id=user.id))
    storage.increment_counter("client", 2, NOW, END + timedelta(seconds=30))
    batch, found = storage.find_user_counting(EMAIL, attempt(), NOW)
    assert batch.applied and batch.values == (1, 3, 1)
    assert batch.expiries == (END, END + timedelta(seconds=30), END)
    assert found == storage.find_user_signing_in(EMAIL)
    assert found[0] == user
    assert storage.get_counter("client", NOW).value == 3  # type: ignore[union-attr]


def test_an_unknown_email_is_counted_the_same_and_found_missing(storage: Storage) -> None:
    storage.add_user(make_user(email="someone@example.com"))
    batch, found = storage.find_user_counting("nobody@example.com", attempt(), NOW)
    assert batch.applied and batch.values == (1, 1, 1)
    assert found == (None, None)


def test_a_full_counter_refuses_the_batch_and_the_account_is_still_read(storage: Storage) -> None:
    storage.add_user(make_user(email=EMAIL))
    storage.increment_counter("client", 5, NOW, END)
    batch, found = storage.find_user_counting(EMAIL, attempt(limit=5), NOW)
    assert batch.refused == 1 and batch.values[1] == 6 and batch.expiries[1] == END
    assert found == storage.find_user_signing_in(EMAIL) and found[0] is not None
    assert storage.get_counter("ip", NOW) is None  # nothing was taken
    assert storage.get_counter("client", NOW).value == 5  # type: ignore[union-attr]


def test_an_amount_alone_past_its_limit_refuses_and_the_account_is_still_read(storage: Storage) -> None:
    storage.add_user(make_user(email=EMAIL))
    batch, found = storage.find_user_counting(EMAIL, attempt(limit=1, amount=2), NOW)
    assert batch.refused == 1
    assert found[0] is not None and found[0].email == EMAIL
    assert storage.get_counter("ip", NOW) is None and storage.get_counter("client", NOW) is None


def test_an_unlimited_batch_and_an_empty_one(storage: Storage) -> None:
    storage.add_user(make_user(email=EMAIL))
    batch, found = storage.find_user_counting(EMAIL, [CounterChange("free", 4, END, read=True)], NOW)
    assert batch.applied and batch.values == (4,)
    assert found[0] is not None
    empty, found = storage.find_user_counting(EMAIL, [], NOW)
    assert empty.applied and empty.values == ()
    assert found[0] is not None


def test_concurrent_attempts_take_no_more_than_the_limit(storage: Storage) -> None:
    storage.add_user(make_user(email=EMAIL))

    def take(index: int) -> bool:
        batch, found = storage.find_user_counting(EMAIL, attempt(limit=8), NOW)
        assert found[0] is not None and found[0].email == EMAIL
        return batch.applied

    results = run_together(20, take)
    assert all(isinstance(r, bool) for r in results), results
    assert sum(r is True for r in results) == 8
    assert storage.get_counter("client", NOW).value == 8  # type: ignore[union-attr]
    assert storage.get_counter("ip", NOW).value == 8  # type: ignore[union-attr]

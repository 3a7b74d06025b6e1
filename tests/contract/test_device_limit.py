"""An account's remembered devices are bounded (`forget_devices_beyond`, called after each add): the
oldest beyond the limit are forgotten and reported once, the newest kept, on every storage; many added at
once (a script signing in with "remember this device" in parallel) leave no more than the limit once
every caller has returned, and no device is reported forgotten twice. Before, nothing bounded them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from tests.contract.helpers import NOW, run_together
from tests.contract.test_factors import device
from twostep.domain.ports import Storage

LIMIT = 3


def test_the_oldest_beyond_the_limit_are_forgotten(storage: Storage) -> None:
    for minute in range(5):
        storage.add_remembered_device(
            replace(device(f"d{minute}"), created_at=NOW + timedelta(minutes=minute))
        )
    storage.add_remembered_device(device("other", user_id="user-2"))
    assert storage.forget_devices_beyond("user-1", LIMIT) == ["d0", "d1"]
    assert [d.id for d in storage.list_remembered_devices("user-1", NOW)] == ["d2", "d3", "d4"]
    assert storage.find_remembered_device("hash-d0", NOW) is None, "its token no longer signs in"
    assert storage.find_remembered_device("hash-d4", NOW) is not None
    assert storage.forget_devices_beyond("user-1", LIMIT) == [], "within the limit nothing goes"
    assert [d.id for d in storage.list_remembered_devices("user-2", NOW)] == ["other"]


def test_the_same_moment_orders_by_id(storage: Storage) -> None:
    for name in ("b", "a", "c"):
        storage.add_remembered_device(device(name))
    assert storage.forget_devices_beyond("user-1", 1) == ["a", "b"]
    assert [d.id for d in storage.list_remembered_devices("user-1", NOW)] == ["c"]


def test_devices_remembered_at_once_never_exceed_the_limit(storage: Storage) -> None:
    for minute in range(LIMIT):
        storage.add_remembered_device(
            replace(device(f"old{minute}"), created_at=NOW + timedelta(minutes=minute))
        )
    adders = 8

    def remember(index: int) -> list[str]:
        new = replace(device(f"new{index}"), created_at=NOW + timedelta(hours=1, seconds=index))
        assert storage.add_remembered_device(new)
        return storage.forget_devices_beyond("user-1", LIMIT)

    outcomes = run_together(adders, remember)
    assert all(isinstance(outcome, list) for outcome in outcomes), outcomes
    forgotten = [device_id for outcome in outcomes for device_id in outcome]  # type: ignore[union-attr]
    assert len(forgotten) == len(set(forgotten)), f"reported twice: {forgotten}"
    kept = storage.list_remembered_devices("user-1", NOW)
    assert [d.id for d in kept] == [f"new{i}" for i in range(adders - LIMIT, adders)], "the newest stay"
    assert sorted(forgotten + [d.id for d in kept]) == sorted(
        [f"old{m}" for m in range(LIMIT)] + [f"new{i}" for i in range(adders)]
    )

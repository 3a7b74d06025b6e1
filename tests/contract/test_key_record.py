"""The shared key record on every backend: created once, replaced only over the version read."""

from __future__ import annotations

from datetime import timedelta

from tests.contract.helpers import NOW, run_together
from twostep.domain.clock import FixedClock
from twostep.domain.ports import KeyRecord, Storage
from twostep.secrets.master_key import MasterKey
from twostep.secrets.stored import KeyPolicy, StoredKeys


def _record(version: int, sealed: str = "sealed") -> KeyRecord:
    return KeyRecord(version, f"{sealed}-{version}", "mk-test", NOW + timedelta(seconds=version))


def test_created_once_then_replaced_only_over_the_stored_version(storage: Storage) -> None:
    assert storage.get_key_record() is None
    assert storage.put_key_record(_record(1), None)
    assert not storage.put_key_record(_record(1, "other"), None)  # a second creation loses
    assert storage.get_key_record() == _record(1)
    assert not storage.put_key_record(_record(3), 2)  # not the stored version
    assert storage.put_key_record(_record(2), 1)
    assert not storage.put_key_record(_record(2, "late"), 1)  # the version it replaced is gone
    assert storage.get_key_record() == _record(2)


def test_parallel_creations_and_replacements_have_one_winner_each(storage: Storage) -> None:
    created = run_together(20, lambda n: storage.put_key_record(_record(1, f"c{n}"), None))
    assert sum(1 for won in created if won is True) == 1
    replaced = run_together(20, lambda n: storage.put_key_record(_record(2, f"r{n}"), 1))
    assert sum(1 for won in replaced if won is True) == 1
    stored = storage.get_key_record()
    assert stored is not None and stored.version == 2


def _keys(storage: Storage, clock: FixedClock) -> StoredKeys:
    policy = KeyPolicy(algorithm="ES256", rsa_bits=2048, legacy_file=None, overrides=lambda m: m)
    return StoredKeys(storage, MasterKey("contract-master-key-0123456789abcdef", "test"), clock, policy)


def test_processes_starting_together_share_one_key_set(storage: Storage) -> None:
    clock = FixedClock(NOW)
    loaded = run_together(10, lambda _: _keys(storage, clock).load())
    sets = {
        (k.material.current.kid, k.material.otp_hmac_key, k.version)
        for k in loaded
        if not isinstance(k, BaseException)
    }
    assert len(sets) == 1 and len(loaded) == 10


def test_a_rotation_is_seen_by_version_and_signs_only_after_its_delay(storage: Storage) -> None:
    clock = FixedClock(NOW)
    first = _keys(storage, clock).load()
    assert _keys(storage, clock).changed_since(first.version) is None
    rotated = _keys(storage, clock).rotate(timedelta(minutes=65))
    seen = _keys(storage, clock).changed_since(first.version)
    assert seen is not None and seen.material.current.kid == rotated.current.kid
    assert seen.material.otp_hmac_key == first.material.otp_hmac_key  # codes in flight stay valid
    old = first.material.current.kid
    assert seen.material.signing_key(clock.now()).kid == old
    clock.advance(65 * 60)
    assert seen.material.signing_key(clock.now()).kid == rotated.current.kid

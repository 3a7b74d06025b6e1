"""The shared key record on every backend: created once, replaced only over the version read."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from tests.contract.helpers import NOW, run_together
from twostep.domain.clock import FixedClock
from twostep.domain.errors import ConfigurationError
from twostep.domain.keys import KeyMaterial
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


def _master(n: int) -> MasterKey:
    return MasterKey(f"contract-master-key-{n}-0123456789abcdef", f"master {n}")


def _keys_with(storage: Storage, clock: FixedClock, master: int, *previous: int) -> StoredKeys:
    policy = KeyPolicy(algorithm="ES256", rsa_bits=2048, legacy_file=None, overrides=lambda m: m)
    return StoredKeys(storage, _master(master), clock, policy, tuple(_master(n) for n in previous))


def test_a_master_key_rotation_reseals_the_same_keys_for_processes_given_the_new_one(
    storage: Storage,
) -> None:
    """Before, nothing re-sealed the key record: a leaked master key (with any backup) opened the keys for
    ever. Now the record is sealed again with the new master key, the keys inside unchanged."""
    clock = FixedClock(NOW)
    old = _keys_with(storage, clock, 1).load()
    assert _keys_with(storage, clock, 2, 1).reseal() == _master(1).key_id
    record = storage.get_key_record()
    assert record is not None and record.master_key_id == _master(2).key_id
    assert str(record.version) != old.version  # running servers see a change to read
    assert _master(1).key_id not in record.sealed
    with pytest.raises(ValueError):
        _master(1).open(record.sealed)
    new = _keys_with(storage, clock, 2).load()  # the previous key no longer needed
    assert (
        new.material.to_json() == old.material.to_json()
    )  # the code HMAC key too: stored code hashes stay valid
    assert _keys_with(storage, clock, 2, 1).reseal() is None  # already sealed with it: nothing written
    assert storage.get_key_record() == record


def test_a_process_holding_only_the_replaced_master_key_keeps_its_keys_and_cannot_start(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FixedClock(NOW)
    running = _keys_with(storage, clock, 1)
    loaded = running.load()
    _keys_with(storage, clock, 2, 1).reseal()
    with caplog.at_level(logging.ERROR, logger="twostep.keys"):
        assert running.changed_since(loaded.version) is None  # keeps the keys it read
        assert running.changed_since(loaded.version) is None
    reported = [r for r in caplog.records if "another master key" in r.getMessage()]
    assert len(reported) == 1  # once per record version, not every refresh
    assert "contract-master-key" not in caplog.text
    with pytest.raises(ConfigurationError, match=r"master 1: .*another master key.*rotate-master-key"):
        _keys_with(storage, clock, 1).load()


def test_master_key_and_signing_key_rotations_at_once_never_lose_one_another(storage: Storage) -> None:
    """A re-seal writes only over the version it read, as `rotate` does: a signing key rotated meanwhile
    is re-sealed with the rest (or the rotation, by a process without the new master key, is refused)."""
    clock = FixedClock(NOW)
    _keys_with(storage, clock, 0).load()
    for new in range(1, 4):
        old = new - 1
        results = run_together(
            3,
            lambda n, new=new, old=old: (
                _keys_with(storage, clock, new, old).reseal()
                if n == 0
                else _keys_with(storage, clock, *((new, old) if n == 1 else (old,))).rotate(timedelta(0))
            ),
        )
        record = storage.get_key_record()
        assert record is not None and record.master_key_id == _master(new).key_id
        kept = {key.kid for key in _keys_with(storage, clock, new).load().material.signing_keys}
        for result in results[1:]:
            if isinstance(result, BaseException):  # only a process left with the replaced key, refused
                assert isinstance(result, ConfigurationError), result
            else:
                assert isinstance(result, KeyMaterial) and result.current.kid in kept
        assert not isinstance(results[1], BaseException)  # a process given both keys always lands


def test_a_rotation_during_a_master_key_rotation_reaches_servers_holding_only_the_old_key(
    storage: Storage,
) -> None:
    """Before, `keys rotate` after `keys rotate-master-key` (or while servers restarted with the new master
    key) sealed the new signing key with the new master key alone: a server still holding only the old one
    never read it, refused the tokens it signed and signed on with the key it retired. A rotation given the
    previous master key now seals the record with it too; only the record's own key starts or writes it."""
    clock = FixedClock(NOW)
    old_server = _keys_with(storage, clock, 1)
    first = old_server.load()
    assert _keys_with(storage, clock, 2, 1).reseal() == _master(1).key_id
    rotated = _keys_with(storage, clock, 2, 1).rotate(timedelta(0))
    seen = old_server.changed_since(first.version)
    assert seen is not None and seen.material.current.kid == rotated.current.kid
    assert seen.material.to_json() == _keys_with(storage, clock, 2).load().material.to_json()
    record = storage.get_key_record()
    assert record is not None and record.master_key_id == _master(2).key_id
    with pytest.raises(ConfigurationError, match="another master key"):
        _keys_with(storage, clock, 1).load()  # a process holding only the old key never starts on it
    with pytest.raises(ConfigurationError, match="another master key"):
        _keys_with(storage, clock, 1).rotate(timedelta(0))  # nor writes it back under that key
    with pytest.raises(ConfigurationError, match="another master key"):
        _keys_with(storage, clock, 1).reseal()
    assert storage.get_key_record() == record
    # Once every process holds the new key, a re-seal without the previous one drops its sealing.
    assert _keys_with(storage, clock, 2).reseal() == _master(1).key_id
    assert old_server.changed_since(seen.version) is None
    assert _keys_with(storage, clock, 2).reseal() is None
    final = storage.get_key_record()
    assert final is not None and _master(1).key_id not in final.sealed


def test_a_rotation_before_the_re_seal_reaches_servers_holding_only_the_old_key(storage: Storage) -> None:
    """Steps in the other order: servers restarted with the new key and the old as previous, a rotation
    run with the same settings while the record is still the old key's, then the re-seal."""
    clock = FixedClock(NOW)
    old_server = _keys_with(storage, clock, 1)
    first = old_server.load()
    rotated = _keys_with(storage, clock, 2, 1).rotate(timedelta(0))
    seen = old_server.changed_since(first.version)
    assert seen is not None and seen.material.current.kid == rotated.current.kid
    assert _keys_with(storage, clock, 2, 1).reseal() == _master(1).key_id
    assert _keys_with(storage, clock, 2).load().material.to_json() == seen.material.to_json()


def test_rotations_and_re_seals_at_once_keep_every_key_and_one_record_owner(storage: Storage) -> None:
    """A rotation sealing for the old key too and a re-seal dropping it, at once: each writes over the
    version it read, so the record ends sealed with the new key (with or without the old one's sealing)
    and holds every rotated key."""
    clock = FixedClock(NOW)
    _keys_with(storage, clock, 1).load()
    results = run_together(
        4,
        lambda n: (
            _keys_with(storage, clock, 2, 1).rotate(timedelta(0))
            if n % 2
            else _keys_with(storage, clock, 2, *((1,) if n == 0 else ())).reseal()
        ),
    )
    rotated = [r for r in results if isinstance(r, KeyMaterial)]
    assert len(rotated) == 2, results
    record = storage.get_key_record()
    assert record is not None and record.master_key_id == _master(2).key_id
    kept = {key.kid for key in _keys_with(storage, clock, 2).load().material.signing_keys}
    assert {r.current.kid for r in rotated} <= kept

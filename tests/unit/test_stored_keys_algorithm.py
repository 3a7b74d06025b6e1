"""A process whose TWOSTEP_JWT_ALGORITHM or TWOSTEP_JWT_HS256_SECRET is not the shared keys' refuses to
start, with a way out that works."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from twostep.domain.clock import FixedClock
from twostep.domain.errors import ConfigurationError
from twostep.domain.keys import KeyMaterial, hs256_key_from_secret
from twostep.secrets.master_key import MasterKey
from twostep.secrets.stored import KeyPolicy, StoredKeys
from twostep.storage.memory import MemoryStorage

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MASTER = MasterKey("unit-test-master-key-0123456789abcdef", "test")


def keys(storage: MemoryStorage, clock: FixedClock, algorithm: str) -> StoredKeys:
    policy = KeyPolicy(algorithm=algorithm, rsa_bits=2048, legacy_file=None, overrides=lambda m: m)  # type: ignore[arg-type]
    return StoredKeys(storage, MASTER, clock, policy)


def test_the_refusal_of_another_algorithm_names_a_rotation_that_lets_the_process_start() -> None:
    """The refusal said `run twostep keys rotate to add a ES256 key`; done as said (with the default
    activation delay) every start was refused again for the delay's 65 minutes, while servers still on
    the old algorithm would sign with the new key and refuse their own tokens. It now names the pending
    key's start and the rotation that works, and that rotation lets the process start at once."""
    storage, clock = MemoryStorage(), FixedClock(NOW)
    keys(storage, clock, "RS256").load()
    keys(storage, clock, "ES256").rotate(timedelta(minutes=65))  # the old advice
    with pytest.raises(ConfigurationError) as refused:
        keys(storage, clock, "ES256").load()
    message = str(refused.value)
    assert "--activation-delay 0" in message and "restart every server" in message
    assert (NOW + timedelta(minutes=65)).isoformat() in message, "names when the pending key signs"

    keys(storage, clock, "ES256").rotate(timedelta(0))  # the advice now given
    assert keys(storage, clock, "ES256").load().material.signing_key(clock.now()).algorithm == "ES256"


def hs256(storage: MemoryStorage, clock: FixedClock, secret: bytes) -> StoredKeys:
    """The keys of a process with TWOSTEP_JWT_ALGORITHM=HS256 and TWOSTEP_JWT_HS256_SECRET=`secret`."""

    def overrides(material: KeyMaterial) -> KeyMaterial:
        return replace(material, signing_keys=(hs256_key_from_secret(secret, clock.now()),))

    policy = KeyPolicy("HS256", 2048, None, overrides, key_from_setting=True)
    return StoredKeys(storage, MASTER, clock, policy)


def test_a_new_hs256_secret_can_be_made_the_deployments_and_the_old_one_stops_starting() -> None:
    """`keys rotate` refused with "change it there", and a process given a new TWOSTEP_JWT_HS256_SECRET
    refused to start ("differs from the HS256 key the database holds"): a leaked secret could not be
    replaced at all. A rotation with the new value now makes it the deployment's key."""
    storage, clock = MemoryStorage(), FixedClock(NOW)
    hs256(storage, clock, b"a" * 32).load()
    with pytest.raises(ConfigurationError, match="twostep keys rotate"):
        hs256(storage, clock, b"b" * 32).load()

    adopted = hs256(storage, clock, b"b" * 32).rotate(timedelta(minutes=65))
    new_kid = hs256_key_from_secret(b"b" * 32, NOW).kid
    assert adopted.signing_key(clock.now()).kid == new_kid, "signs at once: every process restarts anyway"
    assert hs256(storage, clock, b"b" * 32).load().material.current.kid == new_kid
    with pytest.raises(ConfigurationError, match="TWOSTEP_JWT_HS256_SECRET"):
        hs256(storage, clock, b"a" * 32).load()  # the leaked secret no longer starts a process
    with pytest.raises(ConfigurationError, match="set a new secret"):
        hs256(storage, clock, b"b" * 32).rotate(timedelta(0))

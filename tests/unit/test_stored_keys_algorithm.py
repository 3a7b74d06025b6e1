"""A process whose TWOSTEP_JWT_ALGORITHM is not the shared keys' refuses to start, with a way out that works."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from twostep.domain.clock import FixedClock
from twostep.domain.errors import ConfigurationError
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

"""A running server pinned to one algorithm (`TWOSTEP_JWT_ALGORITHM=RS256`) that re-reads a key set rotated
to another by a process configured differently (`TWOSTEP_JWT_ALGORITHM=ES256 twostep keys rotate`).

Before, once the new key activated, the server signed with it, so every token it issued was refused by its
own pinned verifier (each sign-in gave a token no call accepted), and its JWKS listed the key it refused.
Now it signs only with a key of its own algorithm, publishes only those, and once none verifies any more
it refuses to sign (503) instead of issuing tokens nobody accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from twostep.domain.clock import FixedClock
from twostep.domain.errors import DependencyUnavailable, InvalidToken
from twostep.secrets.master_key import MasterKey
from twostep.secrets.stored import KeyPolicy, StoredKeys
from twostep.services.keyring import KeyRing, TokenPolicy
from twostep.storage.memory import MemoryStorage

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MASTER = MasterKey("unit-test-master-key-0123456789abcdef", "test")
RS256_KEYS = KeyPolicy(algorithm="RS256", rsa_bits=2048, legacy_file=None, overrides=lambda m: m)
ES256_KEYS = KeyPolicy(algorithm="ES256", rsa_bits=2048, legacy_file=None, overrides=lambda m: m)
RS256_TOKENS = TokenPolicy("RS256", "https://issuer.example", "twostep-api", 900, 30)
MAX_TOKEN_AGE = RS256_TOKENS.max_token_age


def rs256_server(storage: MemoryStorage, clock: FixedClock) -> KeyRing:
    return KeyRing(StoredKeys(storage, MASTER, clock, RS256_KEYS), clock, RS256_TOKENS, refresh_seconds=30)


def token_of(keys: KeyRing) -> str:
    return keys.issuer().issue(user_id="u1", email="a@example.com", amr=("pwd", "sms"), sid="s1", auth_time=0)


def test_an_rs256_server_never_signs_with_an_es256_key_a_rotation_activated() -> None:
    storage, clock = MemoryStorage(), FixedClock(NOW)
    server = rs256_server(storage, clock)
    first = server.current.kid
    StoredKeys(storage, MASTER, clock, ES256_KEYS).rotate(timedelta(minutes=65))
    assert server.refresh()
    clock.advance(66 * 60)  # the ES256 key signs from now on

    token = token_of(server)
    assert server.current.algorithm == "RS256" and server.current.kid == first
    assert server.verifier().verify(token).sub == "u1"


def test_the_jwks_of_an_rs256_server_leaves_out_keys_of_another_algorithm() -> None:
    storage, clock = MemoryStorage(), FixedClock(NOW)
    server = rs256_server(storage, clock)
    StoredKeys(storage, MASTER, clock, ES256_KEYS).rotate(timedelta(minutes=65))
    server.refresh()

    assert len(server.material.signing_keys) == 2
    assert {key.algorithm for key in server.published().values()} == {"RS256"}


def test_after_a_rotation_without_delay_the_old_key_signs_until_its_tokens_would_be_refused() -> None:
    storage, clock = MemoryStorage(), FixedClock(NOW)
    server = rs256_server(storage, clock)
    StoredKeys(storage, MASTER, clock, ES256_KEYS).rotate(timedelta(0))  # the documented change
    server.refresh()

    clock.advance(MAX_TOKEN_AGE.total_seconds() - 60)
    assert server.verifier().verify(token_of(server)).sub == "u1"

    clock.advance(60)  # the retired RS256 key leaves the JWKS; no key of this server's algorithm is left
    with pytest.raises(DependencyUnavailable):
        token_of(server)
    assert server.published() == {}


def test_a_token_of_the_other_algorithms_key_is_still_refused() -> None:
    storage, clock = MemoryStorage(), FixedClock(NOW)
    server = rs256_server(storage, clock)
    StoredKeys(storage, MASTER, clock, ES256_KEYS).rotate(timedelta(0))
    server.refresh()
    es256_server = KeyRing(
        StoredKeys(storage, MASTER, clock, ES256_KEYS),
        clock,
        TokenPolicy("ES256", "https://issuer.example", "twostep-api", 900, 30),
        refresh_seconds=30,
    )

    with pytest.raises(InvalidToken):
        server.verifier().verify(token_of(es256_server))


def test_the_signing_key_changes_when_a_rotated_key_of_its_algorithm_activates() -> None:
    """The choice of the signing key is kept between sign-ins; it must still move to a key of the
    process's own algorithm the moment that key activates, and back if the clock is set back."""
    storage, clock = MemoryStorage(), FixedClock(NOW)
    server = rs256_server(storage, clock)
    first = server.current.kid
    StoredKeys(storage, MASTER, clock, RS256_KEYS).rotate(timedelta(minutes=65))
    server.refresh()
    assert server.current.kid == first

    clock.advance(65 * 60)
    second = server.current.kid
    assert second != first and server.verifier().verify(token_of(server)).sub == "u1"
    clock.set(NOW)
    assert server.current.kid == first

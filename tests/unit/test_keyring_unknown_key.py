"""A token of a key rotated in moments ago (`keys rotate --activation-delay 0`), signed by a host that has
read the new key set while this one has not: one read of the shared key set, then accepted; tokens of
made-up keys read it at most once a second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from twostep.domain.clock import FixedClock
from twostep.domain.errors import InvalidToken, UnknownSigningKey
from twostep.domain.ports import KeyRecord
from twostep.domain.tokens import TokenIssuer
from twostep.secrets.master_key import MasterKey
from twostep.secrets.stored import KeyPolicy, StoredKeys
from twostep.services.keyring import UNKNOWN_KEY_REREAD_SECONDS, KeyRing, TokenPolicy
from twostep.storage.memory import MemoryStorage

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MASTER = MasterKey("unit-test-master-key-0123456789abcdef", "test")
KEYS = KeyPolicy(algorithm="RS256", rsa_bits=2048, legacy_file=None, overrides=lambda m: m)
TOKENS = TokenPolicy("RS256", "https://issuer.example", "twostep-api", 900, 30)


class CountedReads(MemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.key_reads = 0

    def get_key_record(self) -> KeyRecord | None:
        self.key_reads += 1
        return super().get_key_record()


def ring(storage: MemoryStorage, clock: FixedClock) -> KeyRing:
    return KeyRing(StoredKeys(storage, MASTER, clock, KEYS), clock, TOKENS, refresh_seconds=60)


def token_of(keys: KeyRing) -> str:
    return keys.issuer().issue(user_id="u1", email="a@example.com", amr=("pwd", "sms"), sid="s1", auth_time=0)


def test_a_token_of_a_key_rotated_without_delay_is_accepted_after_one_read() -> None:
    storage, clock = CountedReads(), FixedClock(NOW)
    here = ring(storage, clock)
    StoredKeys(storage, MASTER, clock, KEYS).rotate(timedelta(0))  # after a leak: signs at once
    there = ring(storage, clock)  # a host that read the keys after the rotation
    token = token_of(there)
    with pytest.raises(UnknownSigningKey):
        here.verifier().verify(token)

    clock.advance(UNKNOWN_KEY_REREAD_SECONDS)
    reads = storage.key_reads
    assert here.reread_for_unknown_key()
    assert storage.key_reads == reads + 1
    assert here.verifier().verify(token).sub == "u1"
    assert here.issuer().kid == there.issuer().kid  # and the leaked key stops signing here too


def test_made_up_keys_read_the_key_set_at_most_once_a_second() -> None:
    storage, clock = CountedReads(), FixedClock(NOW)
    here = ring(storage, clock)
    forged = token_of(ring(MemoryStorage(), clock))  # another deployment's key set: a key nobody here knows
    with pytest.raises(UnknownSigningKey):
        here.verifier().verify(forged)

    reads = storage.key_reads
    assert not any(here.reread_for_unknown_key() for _ in range(50))  # read when the ring was made
    assert storage.key_reads == reads
    clock.advance(UNKNOWN_KEY_REREAD_SECONDS)
    assert here.reread_due()
    assert not any(here.reread_for_unknown_key() for _ in range(50))  # nothing new: one read
    assert not here.reread_due()  # the API checks this before it takes a thread for the read
    assert storage.key_reads == reads + 1
    clock.advance(UNKNOWN_KEY_REREAD_SECONDS / 2)
    assert not here.reread_for_unknown_key()
    assert storage.key_reads == reads + 1
    clock.advance(UNKNOWN_KEY_REREAD_SECONDS / 2)
    here.reread_for_unknown_key()
    assert storage.key_reads == reads + 2
    with pytest.raises(UnknownSigningKey):
        here.verifier().verify(forged)


def test_a_regular_refresh_counts_as_the_last_read() -> None:
    storage, clock = CountedReads(), FixedClock(NOW)
    here = ring(storage, clock)
    clock.advance(60)
    here.refresh()
    reads = storage.key_reads
    assert not here.reread_for_unknown_key()
    assert storage.key_reads == reads


def test_a_retired_key_is_refused_when_it_leaves_the_jwks_though_the_verifier_was_built_before() -> None:
    """The verifier is rebuilt once a minute; one built in the minute before a retired key left the
    JWKS still accepted that key's tokens (after a leak: forgeries) for up to that minute."""
    storage, clock = MemoryStorage(), FixedClock(NOW)
    keys = ring(storage, clock)
    leaked = token_of(keys)
    StoredKeys(storage, MASTER, clock, KEYS).rotate(timedelta(0))
    assert keys.refresh()
    clock.advance(TOKENS.max_token_age.total_seconds() - 10)
    assert keys.verifier().verify(token_of_kid(keys, leaked, clock)).sub == "u1"  # built now, 10 s before
    clock.advance(10)
    assert leaked_kid(leaked) not in keys.published()
    with pytest.raises(InvalidToken):
        keys.verifier().verify(token_of_kid(keys, leaked, clock))


def leaked_kid(token: str) -> str:
    import base64
    import json

    header = token.split(".", maxsplit=1)[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


def token_of_kid(keys: KeyRing, token: str, clock: FixedClock) -> str:
    """A fresh token signed with the (retired) key that signed `token`: what a thief of that key makes."""
    kid = leaked_kid(token)
    key = next(k for k in keys.material.signing_keys if k.kid == kid)
    return TokenIssuer(
        kid=kid,
        algorithm=key.algorithm,
        key=key.signing_material,
        issuer=TOKENS.issuer,
        audience=TOKENS.audience,
        ttl_seconds=TOKENS.access_ttl_seconds,
        clock=clock,
    ).issue(user_id="u1", email="a@example.com", amr=("pwd", "sms"), sid="s1", auth_time=0)

"""The PyJWT-free RS256 verifier answers exactly as `TokenVerifier` (PyJWT plus twostep's checks).

Each generated token (`rs256_cases.py`) goes through both; they must agree on accept or reject, and on
the claims when accepting. The new verifier runs once with its RSA check in Python and once with
OpenSSL's, so both halves of `RsaPublicKey` are held to PyJWT. A few thousand tokens here; the `slow`
variant checks many more.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime

import jwt
import pytest

from tests.unit.rs256_cases import (
    AUDIENCE,
    ISSUER,
    KID,
    LEEWAY,
    NOW,
    SHA1_INFO,
    SHA256_INFO_NO_NULL,
    TokenCases,
    emsa,
    private_key,
    raw_sign,
)
from twostep.domain.clock import FixedClock
from twostep.domain.errors import InvalidToken
from twostep.domain.rs256_verifier import Rs256TokenVerifier
from twostep.domain.rsa_pkcs1 import RsaPublicKey
from twostep.domain.tokens import AccessClaims, TokenVerifier

CLOCK = FixedClock(datetime.fromtimestamp(NOW, tz=UTC))
PYTHON_ONLY, OPENSSL_ONLY = sys.maxsize, 0


def reference() -> TokenVerifier:
    return TokenVerifier(
        algorithm="RS256",
        keys={KID: private_key("service").public_key()},  # not OTHER_KID: a kid nobody knows
        issuer=ISSUER,
        audience=AUDIENCE,
        leeway_seconds=LEEWAY,
        clock=CLOCK,
    )


def candidate(python_checks: int) -> Rs256TokenVerifier:
    numbers = private_key("service").public_key().public_numbers()
    return Rs256TokenVerifier(
        keys={KID: RsaPublicKey(numbers.n, numbers.e, python_checks=python_checks)},
        issuer=ISSUER,
        audience=AUDIENCE,
        leeway_seconds=LEEWAY,
        clock=CLOCK,
    )


def answer(verifier: TokenVerifier | Rs256TokenVerifier, token: str) -> AccessClaims | None:
    try:
        return verifier.verify(token)
    except InvalidToken:
        return None


def compare(seed: int, count: int) -> Counter[str]:
    old = reference()
    pure, openssl = candidate(PYTHON_ONLY), candidate(OPENSSL_ONLY)
    outcomes: Counter[str] = Counter()
    for family, token in TokenCases(seed).generate(count):
        expected = answer(old, token)
        assert answer(pure, token) == expected, (family, token)
        assert answer(openssl, token) == expected, (family, token)
        outcomes[f"{family}:{'accept' if expected else 'reject'}"] += 1
    return outcomes


def test_agrees_with_pyjwt_on_generated_tokens() -> None:
    outcomes = compare(seed=19, count=4000)
    accepted = sum(n for key, n in outcomes.items() if key.endswith(":accept"))
    assert accepted > 400 and sum(outcomes.values()) - accepted > 1000, outcomes  # both answers well covered
    for family in ("times", "claim_types", "headers", "signatures", "encodings"):
        assert outcomes[f"{family}:reject"] > 0, (family, outcomes)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(8))
def test_agrees_with_pyjwt_on_many_more_tokens(seed: int) -> None:
    compare(seed=1000 + seed, count=10_000)


def test_default_key_checks_first_in_python_then_with_openssl() -> None:
    """The authorizer's default: the cold start's check needs no `cryptography`, later ones use it."""
    cases = TokenCases(7)
    numbers = private_key("service").public_key().public_numbers()
    key = RsaPublicKey(numbers.n, numbers.e)
    verifier = Rs256TokenVerifier(
        keys={KID: key}, issuer=ISSUER, audience=AUDIENCE, leeway_seconds=LEEWAY, clock=CLOCK
    )
    tokens = [cases.valid() for _ in range(3)]
    assert [answer(verifier, token) is not None for token in tokens] == [True, True, True]
    bad = cases.token(sign=lambda m: raw_sign(private_key("attacker"), emsa(m)))
    assert answer(verifier, bad) is None


@pytest.mark.parametrize(
    "block",
    [
        lambda m: emsa(m, info=SHA256_INFO_NO_NULL),  # the DigestInfo without NULL parameters
        lambda m: emsa(m, info=SHA1_INFO),
        lambda m: emsa(m, block_type=2),
        lambda m: emsa(m, padding_len=7),  # fewer than 8 padding octets
        lambda m: emsa(m, extra=b"\x00" * 8, padding_len=194),  # garbage after the hash
    ],
)
def test_lenient_encodings_are_refused_by_both_rsa_checks(block: object) -> None:
    """Bleichenbacher'06-style blocks, correctly exponentiated: only the one exact encoding passes."""
    numbers = private_key("service").public_key().public_numbers()
    key = RsaPublicKey(numbers.n, numbers.e)
    message = b"header.payload"
    signature = raw_sign(private_key("service"), block(message)[:256].rjust(256, b"\x00"))  # type: ignore[operator]
    assert not key.verify_pure(message, signature)
    assert not key.verify_openssl(message, signature)
    assert not jwt.get_algorithm_by_name("RS256").verify(
        message, private_key("service").public_key(), signature
    )
    valid = raw_sign(private_key("service"), emsa(message))
    assert key.verify_pure(message, valid) and key.verify_openssl(message, valid)


def test_small_or_odd_keys_are_refused() -> None:
    with pytest.raises(ValueError):
        RsaPublicKey(2**1023 + 1, 65537)
    numbers = private_key("service").public_key().public_numbers()
    for exponent in (1, 2, 65536, numbers.n + 2):
        with pytest.raises(ValueError):
            RsaPublicKey(numbers.n, exponent)

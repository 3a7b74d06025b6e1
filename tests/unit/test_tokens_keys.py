"""Token issue/verify per algorithm, key rotation and the JWKS."""

from __future__ import annotations

from datetime import timedelta

import pytest

from twostep.domain.clock import FixedClock
from twostep.domain.errors import InvalidToken
from twostep.domain.keys import KeyMaterial
from twostep.domain.tokens import TokenIssuer, TokenVerifier, extract_bearer


def issuer_and_verifier(algorithm: str, clock: FixedClock) -> tuple[TokenIssuer, TokenVerifier, KeyMaterial]:
    keys = KeyMaterial.generate(algorithm, clock.now())  # type: ignore[arg-type]
    key = keys.current
    issuer = TokenIssuer(
        kid=key.kid,
        algorithm=algorithm,
        key=key.signing_material,
        issuer="iss",
        audience="aud",
        ttl_seconds=900,
        clock=clock,
    )
    verifier = TokenVerifier(
        algorithm=algorithm,
        keys={key.kid: key.verification_material},
        issuer="iss",
        audience="aud",
        leeway_seconds=30,
        clock=clock,
    )
    return issuer, verifier, keys


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA", "HS256"])
def test_round_trip(algorithm: str) -> None:
    clock = FixedClock()
    issuer, verifier, _ = issuer_and_verifier(algorithm, clock)
    claims = verifier.verify(
        issuer.issue(user_id="u1", email="a@example.com", amr=("pwd", "sms"), sid="s1", auth_time=0)
    )
    assert (claims.sub, claims.email, claims.amr) == ("u1", "a@example.com", ("pwd", "sms"))
    assert claims.exp - claims.iat == 900


def test_rs256_tokens_are_pyjwt_encodings_on_thousands_of_claim_sets() -> None:
    """The RS256 signer made once (its padding and hash objects too) gives, token after token, the bytes
    `jwt.encode` gives for the same claims and header, and PyJWT verifies each with the public key."""
    import random

    import jwt

    rng = random.Random(19)
    clock = FixedClock()
    issuer, _, keys = issuer_and_verifier("RS256", clock)
    key = keys.current
    header = {"kid": key.kid, "typ": "at+jwt"}
    names = ["a", "Zoë", "名前", "o'brien", 'q"uote', "back\\slash", "tab\t", "\u2028"]
    amrs = [("pwd", "sms"), ("pwd", "otp"), ("pwd",), ("hwk",), ("pwd", "mfa", "sms")]
    for n in range(2000):
        email = f"{rng.choice(names)}{n}@example.com"
        amr, auth_time = rng.choice(amrs), rng.randrange(0, 2**31)
        token = issuer.issue(user_id=f"u{n}", email=email, amr=amr, sid=f"s{n}", auth_time=auth_time)
        claims = jwt.decode(
            token,
            key.verification_material,
            algorithms=["RS256"],
            audience="aud",
            issuer="iss",
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},  # a fixed clock's times
        )
        assert (claims["email"], tuple(claims["amr"]), claims["auth_time"]) == (email, amr, auth_time)
        assert token == jwt.encode(claims, key.signing_material, algorithm="RS256", headers=header)
        clock.advance(rng.randrange(0, 5))


@pytest.mark.parametrize("algorithm", ["RS256", "HS256", "EdDSA"])
def test_issued_tokens_are_pyjwt_encodings(algorithm: str) -> None:
    """The issuer signs with a prepared key instead of calling `jwt.encode`; for the deterministic
    algorithms its tokens are byte for byte what `jwt.encode` makes of the same claims and header."""
    import jwt

    clock = FixedClock()
    issuer, _, keys = issuer_and_verifier(algorithm, clock)
    token = issuer.issue(user_id="u1", email="a@example.com", amr=("pwd", "sms"), sid="s1", auth_time=7)
    claims = jwt.decode(token, options={"verify_signature": False})
    header = {"kid": keys.current.kid, "typ": "at+jwt"}
    assert token == jwt.encode(claims, keys.current.signing_material, algorithm=algorithm, headers=header)
    assert list(claims) == [
        "iss",
        "aud",
        "sub",
        "email",
        "iat",
        "nbf",
        "exp",
        "jti",
        "amr",
        "sid",
        "auth_time",
    ]


def test_expiry_and_leeway() -> None:
    clock = FixedClock()
    issuer, verifier, _ = issuer_and_verifier("ES256", clock)
    token = issuer.issue(user_id="u1", email="a@example.com", amr=("pwd",), sid="s1", auth_time=0)
    clock.advance(900 + 29)
    verifier.verify(token)
    clock.advance(2)
    with pytest.raises(InvalidToken):
        verifier.verify(token)


def test_token_from_the_future_is_refused() -> None:
    clock = FixedClock()
    issuer, verifier, _ = issuer_and_verifier("ES256", clock)
    token = issuer.issue(user_id="u1", email="a@example.com", amr=("pwd",), sid="s1", auth_time=0)
    clock.advance(-120)
    with pytest.raises(InvalidToken):
        verifier.verify(token)


def test_rotation_keeps_previous_key_until_its_tokens_expire() -> None:
    clock = FixedClock()
    keys = KeyMaterial.generate("RS256", clock.now())
    old_kid = keys.current.kid
    rotated = keys.rotated("RS256", clock.now())
    assert rotated.current.kid != old_kid
    max_age = timedelta(seconds=930)
    assert set(rotated.verification_keys(clock.now(), max_age)) == {old_kid, rotated.current.kid}
    later = clock.now() + timedelta(seconds=931)
    assert set(rotated.verification_keys(later, max_age)) == {rotated.current.kid}
    restored = KeyMaterial.from_json(rotated.to_json())
    assert [k.kid for k in restored.signing_keys] == [k.kid for k in rotated.signing_keys]
    assert restored.otp_hmac_key == keys.otp_hmac_key


def test_a_rotation_after_a_leak_ends_the_leaked_key_a_token_lifetime_later_despite_a_pending_rotation() -> (
    None
):
    """A scheduled rotation retires the signing key at the new key's activation (65 minutes on); a
    rotation without delay after a leak, while that one was pending, kept the leaked key's later
    retirement, so the leaked key verified tokens for 80 minutes instead of the 15 the docs promise."""
    clock = FixedClock()
    keys = KeyMaterial.generate("ES256", clock.now())
    leaked = keys.current.kid
    scheduled = keys.rotated("ES256", clock.now(), activation_delay=timedelta(minutes=65))
    pending = scheduled.current.kid
    leak_noticed = clock.now() + timedelta(minutes=5)
    emergency = scheduled.rotated("ES256", leak_noticed, activation_delay=timedelta(0))
    max_age = timedelta(seconds=930)
    assert emergency.signing_key(leak_noticed).kid == emergency.current.kid
    assert leaked in emergency.verification_keys(leak_noticed + max_age - timedelta(seconds=1), max_age)
    after = leak_noticed + max_age
    assert set(emergency.verification_keys(after, max_age)) == {emergency.current.kid}
    assert emergency.signing_key(clock.now() + timedelta(minutes=65)).kid == emergency.current.kid
    assert pending not in emergency.verification_keys(after, max_age)


def test_a_second_scheduled_rotation_keeps_the_first_ones_retirement() -> None:
    """A key already retiring earlier than a new rotation's activation keeps its own retirement."""
    clock = FixedClock()
    keys = KeyMaterial.generate("ES256", clock.now())
    first = keys.current.kid
    scheduled = keys.rotated("ES256", clock.now(), activation_delay=timedelta(minutes=65))
    again = scheduled.rotated(
        "ES256", clock.now() + timedelta(minutes=5), activation_delay=timedelta(minutes=65)
    )
    retirements = {key.kid: key.retired_at for key in again.signing_keys}
    assert retirements[first] == clock.now() + timedelta(minutes=65)
    assert retirements[scheduled.current.kid] == clock.now() + timedelta(minutes=70)
    assert again.signing_key(clock.now() + timedelta(minutes=66)).kid == scheduled.current.kid


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_public_jwk_has_no_private_part(algorithm: str) -> None:
    jwk = KeyMaterial.generate(algorithm, FixedClock().now()).current.public_jwk()  # type: ignore[arg-type]
    assert jwk is not None and jwk["alg"] == algorithm and "d" not in jwk


def test_hs256_key_is_never_published() -> None:
    assert KeyMaterial.generate("HS256", FixedClock().now()).current.public_jwk() is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("abc", "abc"),
        ("BEARER  abc ", "abc"),
        ("", None),
        (None, None),
    ],
)
def test_extract_bearer(header: str | None, expected: str | None) -> None:
    assert extract_bearer(header) == expected


@pytest.mark.parametrize("part", ["header", "payload"])
def test_json_nested_past_the_recursion_limit_is_refused(part: str) -> None:
    import base64
    import json

    clock = FixedClock()
    issuer, verifier, _ = issuer_and_verifier("ES256", clock)
    header, payload, signature = issuer.issue(
        user_id="u1", email="a@example.com", amr=("pwd",), sid="s1", auth_time=0
    ).split(".")
    nested = base64.urlsafe_b64encode(("[" * 3000 + "]" * 3000).encode()).rstrip(b"=").decode()
    token = f"{nested}.{payload}.{signature}" if part == "header" else f"{header}.{nested}.{signature}"
    with pytest.raises(InvalidToken):
        verifier.verify(token)
    assert json.loads(base64.urlsafe_b64decode(header + "==")).get("alg") == "ES256"

"""The authorizer's PyJWT-free RS256 path: which key files take it, which keys it keeps, and that anything
else still takes the general path (PyJWT, `load_key_material`) with its old behaviour."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.aws.events import token_event
from twostep.aws import authorizer, authorizer_keys, lazy
from twostep.aws.authorizer_keys import rs256_keys, rs256_verifier_from_file
from twostep.aws.authorizer_settings import AuthorizerSettings
from twostep.domain.clock import Clock, FixedClock, SystemClock
from twostep.domain.errors import InvalidToken
from twostep.domain.keys import KeyMaterial
from twostep.domain.rs256_verifier import Rs256TokenVerifier
from twostep.domain.rsa_pkcs1 import RsaPublicKey, public_key_from_pkcs8_pem
from twostep.domain.tokens import TokenIssuer, TokenVerifier
from twostep.storage.sqlite import SqliteStorage

pytestmark = pytest.mark.aws
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
MAX_AGE = timedelta(seconds=930)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    for name, value in {
        "TWOSTEP_JWT_KEY_FILE": str(tmp_path / "keys.json"),
        "TWOSTEP_STORAGE": "sqlite",
        "TWOSTEP_SQLITE_PATH": str(tmp_path / "twostep.db"),
        "TWOSTEP_ISSUER": "https://issuer.example",
    }.items():
        monkeypatch.setenv(name, value)
    SqliteStorage(tmp_path / "twostep.db").init_schema()
    authorizer.reset()
    yield tmp_path / "keys.json"
    authorizer.reset()


def issue(
    material: KeyMaterial, clock: Clock | None = None, *, kid: str | None = None, ttl: int = 900
) -> str:
    """A token of `material`'s signing key (or of its key `kid`), issued at `clock`'s time."""
    clock = clock or SystemClock()
    key = next((k for k in material.signing_keys if k.kid == kid), None) or material.signing_key(clock.now())
    return TokenIssuer(
        kid=key.kid,
        algorithm=key.algorithm,
        key=key.signing_material,
        issuer="https://issuer.example",
        audience="twostep-api",
        ttl_seconds=ttl,
        clock=clock,
    ).issue(user_id="u1", email="a@example.com", amr=("pwd", "sms"), sid="s1", auth_time=0)


def allows(token: str) -> bool:
    try:
        answer = authorizer.handler(token_event(f"Bearer {token}"), None)
    except Exception as exc:
        assert str(exc) == "Unauthorized"
        return False
    return bool(answer["policyDocument"]["Statement"][0]["Effect"] == "Allow")


def test_an_rs256_key_file_is_checked_without_pyjwt(env: Path) -> None:
    material = KeyMaterial.generate("RS256", datetime.now(UTC))
    env.write_text(material.to_json())
    assert allows(issue(material))
    assert isinstance(authorizer.get_verifier(), Rs256TokenVerifier)
    other = KeyMaterial.generate("RS256", datetime.now(UTC))
    assert not allows(issue(replace(other, signing_keys=(replace(other.current, kid=material.current.kid),))))


@pytest.mark.parametrize("algorithm", ["ES256", "EdDSA", "HS256"])
def test_other_algorithms_take_the_general_path(
    env: Path, monkeypatch: pytest.MonkeyPatch, algorithm: str
) -> None:
    monkeypatch.setenv("TWOSTEP_JWT_ALGORITHM", algorithm)
    material = KeyMaterial.generate(algorithm, datetime.now(UTC))  # type: ignore[arg-type]
    env.write_text(material.to_json())
    assert allows(issue(material))
    assert isinstance(authorizer.get_verifier(), TokenVerifier)


def test_a_missing_key_file_is_still_created_by_the_general_path(env: Path) -> None:
    assert not env.exists()
    assert isinstance(authorizer.get_verifier(), TokenVerifier)
    assert env.exists()
    authorizer.reset()
    assert isinstance(authorizer.get_verifier(), Rs256TokenVerifier)  # the next container reads it plainly


def test_a_damaged_key_file_still_fails_closed(env: Path) -> None:
    material = json.loads(KeyMaterial.generate("RS256", NOW).to_json())
    material["signing_keys"][0]["private_pem"] = (
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
    )
    env.write_text(json.dumps(material))
    with pytest.raises(authorizer.AuthorizerUnavailable):
        authorizer.handler(token_event("Bearer a.b.c"), None)


def test_keys_kept_are_those_build_verifier_keeps() -> None:
    material = KeyMaterial.generate("RS256", NOW - timedelta(days=1))
    material = material.rotated("RS256", NOW - timedelta(hours=2))  # the first retired two hours ago
    material = material.rotated("RS256", NOW - timedelta(seconds=60))  # the second a minute ago
    expected = material.verification_keys(NOW, MAX_AGE)
    kept = rs256_keys(material.to_json(), NOW, MAX_AGE)
    assert kept is not None and set(kept) == set(expected) and len(kept) == 2
    for kid, key in kept.items():
        numbers = expected[kid].verification_material.public_numbers()
        assert (key.n, key.e) == (numbers.n, numbers.e)


@pytest.mark.parametrize(
    "change",
    [
        lambda data: data.pop("otp_hmac_key"),
        lambda data: data["signing_keys"].clear(),
        lambda data: data["signing_keys"][0].update(alg="ES256"),
        lambda data: data["signing_keys"][0].update(created_at="yesterday"),
        lambda data: data["signing_keys"][0].pop("private_pem"),
        lambda data: data["signing_keys"][0].update(private_pem="not a pem"),
        lambda data: data.update(signing_keys="x"),
    ],
)
def test_anything_unusual_is_left_to_the_general_path(change: object) -> None:
    data = json.loads(KeyMaterial.generate("RS256", NOW).rotated("RS256", NOW).to_json())
    change(data)  # type: ignore[operator]
    assert rs256_keys(json.dumps(data), NOW, MAX_AGE) is None
    assert rs256_keys("[]", NOW, MAX_AGE) is None
    assert rs256_keys("{", NOW, MAX_AGE) is None


def test_a_refresh_parses_the_key_file_again_only_when_it_changed(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every 60 s a warm authorizer rebuilds its verifier: an unchanged file costs no DER walk, and the
    keys it keeps are the same objects (their OpenSSL keys already built)."""
    material = KeyMaterial.generate("RS256", datetime.now(UTC))
    env.write_text(material.to_json())
    parsed: list[str] = []

    def counted(pem: str) -> RsaPublicKey:
        parsed.append(pem)
        return public_key_from_pkcs8_pem(pem)

    monkeypatch.setattr(authorizer_keys, "public_key_from_pkcs8_pem", counted)
    settings = AuthorizerSettings.from_environ()

    first = rs256_verifier_from_file(settings, SystemClock())
    again = rs256_verifier_from_file(settings, SystemClock())
    assert first is not None and again is not None and len(parsed) == 1
    assert again.verify(issue(material)).sub == "u1"

    rotated = material.rotated("RS256", datetime.now(UTC))
    env.write_text(rotated.to_json())
    changed = rs256_verifier_from_file(settings, SystemClock())
    assert changed is not None and len(parsed) == 3  # the new file's two records
    assert changed.verify(issue(rotated)).sub == "u1"


def test_a_retired_key_ages_out_on_refresh_though_the_file_is_unchanged(env: Path) -> None:
    material = KeyMaterial.generate("RS256", NOW - timedelta(days=1))
    retired_kid = material.current.kid
    material = material.rotated("RS256", NOW)  # the first key retires now
    env.write_text(material.to_json())
    settings = AuthorizerSettings.from_environ()
    token = issue(material, FixedClock(NOW), kid=retired_kid, ttl=7200)  # outlives its key's grace

    at_retirement = rs256_verifier_from_file(settings, FixedClock(NOW + timedelta(seconds=60)))
    assert at_retirement is not None and at_retirement.verify(token).sub == "u1"
    later = FixedClock(
        NOW + timedelta(seconds=settings.access_token_ttl_seconds + settings.jwt_leeway_seconds)
    )
    after_grace = rs256_verifier_from_file(settings, later)
    assert after_grace is not None
    with pytest.raises(InvalidToken):
        after_grace.verify(token)


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_a_retired_key_stops_verifying_when_it_leaves_the_jwks_though_the_verifier_is_older(
    env: Path, monkeypatch: pytest.MonkeyPatch, algorithm: str
) -> None:
    """A verifier is rebuilt only every key refresh (a minute), with the keys published at that moment;
    one built just before a retired key left the JWKS accepted tokens of that key (a leaked key's
    forgeries) until its next rebuild. Both paths now refuse the key from the moment it leaves."""
    monkeypatch.setenv("TWOSTEP_JWT_ALGORITHM", algorithm)
    material = KeyMaterial.generate(algorithm, NOW - timedelta(days=1))  # type: ignore[arg-type]
    retired_kid = material.current.kid
    material = material.rotated(algorithm, NOW)  # type: ignore[arg-type]
    env.write_text(material.to_json())
    settings = AuthorizerSettings.from_environ()
    grace = timedelta(seconds=settings.access_token_ttl_seconds + settings.jwt_leeway_seconds)
    clock = FixedClock(NOW + grace - timedelta(seconds=10))  # built 10 s before the key leaves
    built = rs256_verifier_from_file(settings, clock) if algorithm == "RS256" else authorizer_build(clock)
    assert built is not None
    token = issue(material, clock, kid=retired_kid)
    assert built.verify(token).sub == "u1"
    clock.advance(10)
    with pytest.raises(InvalidToken):
        built.verify(issue(material, clock, kid=retired_kid))


def authorizer_build(clock: Clock) -> TokenVerifier:
    """The general path's verifier (`build_verifier` over the key file), at `clock`'s time."""
    from twostep.secrets import load_key_material
    from twostep.verifier_factory import build_verifier

    settings = AuthorizerSettings.from_environ()
    return build_verifier(settings, load_key_material(settings, clock), clock)


class Monotonic:
    """`time.monotonic` for `aws.lazy`, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_a_key_rotated_without_delay_is_read_at_once_and_made_up_keys_at_most_every_5_s(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a leak (`keys rotate --activation-delay 0`) another container may sign with the new key before
    this one's minutely refresh: its token makes the authorizer read the keys again, at most every
    `UNKNOWN_KEY_REREAD_SECONDS` (each read is a GetSecretValue on AWS)."""
    clock = Monotonic()
    monkeypatch.setattr(lazy, "time", clock)
    reads: list[str] = []

    def counted(settings: AuthorizerSettings, at: Clock) -> Rs256TokenVerifier | None:
        reads.append(settings.jwt_key_file_name)
        return rs256_verifier_from_file(settings, at)

    monkeypatch.setattr(authorizer_keys, "rs256_verifier_from_file", counted)
    material = KeyMaterial.generate("RS256", datetime.now(UTC))
    env.write_text(material.to_json())
    assert allows(issue(material)) and len(reads) == 1

    rotated = material.rotated("RS256", datetime.now(UTC))  # no activation delay: signs at once
    env.write_text(rotated.to_json())
    made_up = issue(KeyMaterial.generate("RS256", datetime.now(UTC)))
    clock.now += authorizer.UNKNOWN_KEY_REREAD_SECONDS - 1
    assert not allows(issue(rotated)) and not allows(made_up)
    assert len(reads) == 1  # read less than 5 s ago: refused without reading again

    clock.now += 1
    assert allows(issue(rotated)) and len(reads) == 2  # far sooner than the 60-s refresh
    assert not any(allows(made_up) for _ in range(20))
    assert len(reads) == 2
    clock.now += authorizer.UNKNOWN_KEY_REREAD_SECONDS
    assert not allows(made_up) and len(reads) == 3
    assert allows(issue(material))  # the previous key's tokens stay valid until they expire


def test_a_retired_key_ages_out_while_the_keys_cannot_be_read(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, a refresh that could not read the keys (Secrets Manager unreachable or refusing, a damaged
    key file) kept the verifier built at the last read, with the key set as it stood then: a key retired
    after a leak (`keys rotate --activation-delay 0`) kept its place past its tokens' lifetime, and the
    authorizer allowed tokens the thief kept signing with it for as long as the reads failed (the API
    dropped the key on time). The verifier kept now refuses each retired key when its tokens expire."""
    ticks = Monotonic()
    monkeypatch.setattr(lazy, "time", ticks)
    clock = FixedClock(NOW + timedelta(seconds=60))
    monkeypatch.setattr(authorizer, "clock", clock)
    material = KeyMaterial.generate("RS256", NOW - timedelta(days=1))
    leaked_kid = material.current.kid
    material = material.rotated("RS256", NOW)  # the leaked key retires now
    env.write_text(material.to_json())
    assert allows(issue(material, clock)) and allows(issue(material, clock, kid=leaked_kid))

    env.write_text("{damaged")  # from now on every read of the keys fails
    clock.advance(MAX_AGE.total_seconds() + 60)
    ticks.now += authorizer.KEYS_REFRESH_SECONDS
    assert not allows(issue(material, clock, kid=leaked_kid))
    assert allows(issue(material, clock))  # the current key still signs in


def test_a_key_file_whose_newest_key_has_another_algorithm_is_read_not_rotated(env: Path) -> None:
    """Before, the RS256 authorizer's general path (`load_key_material` over a key file) rotated a file
    whose newest key was ES256: a verifier wrote a new RS256 key into it and retired the ES256 key that
    processes configured with ES256 signed with. It now reads the file as it is and verifies the tokens
    of its own algorithm's keys."""
    material = KeyMaterial.generate("RS256", NOW - timedelta(minutes=5))
    material = material.rotated("ES256", NOW, activation_delay=timedelta(minutes=65))
    env.write_text(material.to_json())
    written = env.read_text()
    clock = FixedClock(NOW)

    verifier = authorizer_build(clock)

    assert env.read_text() == written
    assert verifier.verify(issue(material, clock)).sub == "u1"  # the RS256 key, still signing


def test_a_sealed_secrets_public_records_give_the_keys_its_private_records_give() -> None:
    """A secret sealed by KMS holds each key's public half (`public_pem`, SubjectPublicKeyInfo) instead of
    its private key: the fast path reads `(n, e)` from it (before, only from `private_pem`) and never
    looks at the sealed part, which holds the private keys, the code HMAC key and `extra`."""
    material = KeyMaterial.generate("RS256", NOW).rotated("RS256", NOW)
    public_text = json.dumps(
        {"format": authorizer_keys.SEALED_FORMAT, "signing_keys": material.public_records(), "sealed": {}}
    )
    assert "PRIVATE" not in public_text
    from twostep.secrets.aws_sealed import SEALED_FORMAT

    assert authorizer_keys.SEALED_FORMAT == SEALED_FORMAT

    def numbers(text: str) -> dict[str, tuple[int, int]]:
        return {kid: (key.n, key.e) for kid, key in (rs256_keys(text, NOW, MAX_AGE) or {}).items()}

    assert len(numbers(public_text)) == 2
    assert numbers(public_text) == numbers(material.to_json())
    without_format = json.dumps({"signing_keys": material.public_records()})
    assert rs256_keys(without_format, NOW, MAX_AGE) is None  # neither form: left to the general path

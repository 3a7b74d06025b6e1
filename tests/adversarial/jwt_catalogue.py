"""A catalogue of attacks on access tokens (RFC 8725, jwt_tool's playbook, the checklist's J1-J16).

Each attack turns a `Target` (the service's real key material, a real token pair, the clock) into the
value of an `Authorization` header that must be refused. The same catalogue runs against `/hello` and
against the API Gateway authorizer. `forge` signs with the service's real key, so an attack that only
changes one thing (a claim, a header) is refused for that one thing: `forge(target)` alone is accepted,
which `test_forged_control_token_is_accepted` checks, so these tests can fail.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from twostep.domain.keys import Algorithm, SigningKey, generate_signing_key

ALGORITHMS: tuple[Algorithm, ...] = ("RS256", "ES256", "EdDSA", "HS256")
ASYMMETRIC: tuple[Algorithm, ...] = ("RS256", "ES256", "EdDSA")
DROP = object()  # a claim or header value that means "leave it out"


@dataclass(frozen=True)
class Target:
    """What an attacker may know or hold, plus the service's own key so attacks can isolate one change."""

    key: SigningKey
    issuer: str
    audience: str
    now: int
    leeway: int
    ttl: int
    access_token: str
    refresh_token: str
    otp_id: str
    fetch_url: str  # a recording server: any request to it is a fetch the verifier must never make

    @property
    def algorithm(self) -> Algorithm:
        return self.key.algorithm


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def claims_for(target: Target, **overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": target.issuer,
        "aud": target.audience,
        "sub": "user-1",
        "email": "victim@example.com",
        "iat": target.now,
        "nbf": target.now,
        "exp": target.now + target.ttl,
        "jti": secrets.token_hex(8),
        "amr": ["pwd", "sms"],
        "sid": "session-1",
        "auth_time": target.now,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not DROP}


def headers_for(target: Target, **overrides: Any) -> dict[str, Any]:
    header: dict[str, Any] = {"alg": target.algorithm, "typ": "at+jwt", "kid": target.key.kid}
    header.update(overrides)
    return {name: value for name, value in header.items() if value is not DROP}


def sign_raw(algorithm: str, key: Any, signing_input: bytes) -> bytes:
    """The signature bytes PyJWT would make, for headers and payloads PyJWT would not encode."""
    if algorithm == "HS256":
        return hmac.new(key, signing_input, hashlib.sha256).digest()
    return bytes(jwt.get_algorithm_by_name(algorithm).sign(signing_input, key))


def compact(header: dict[str, Any], payload: Any, algorithm: str, key: Any) -> str:
    """A compact JWS over any header and payload (a JSON value, or raw bytes)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
    signing_input = f"{b64json(header)}.{b64(body)}"
    return f"{signing_input}.{b64(sign_raw(algorithm, key, signing_input.encode()))}"


def forge(target: Target, *, header: dict[str, Any] | None = None, **claims: Any) -> str:
    """A token signed with the service's real key; only the given claims and headers differ."""
    return compact(
        header or headers_for(target),
        claims_for(target, **claims),
        target.algorithm,
        target.key.signing_material,
    )


@cache
def attacker_key(algorithm: Algorithm) -> SigningKey:
    """A key of the given algorithm that the service has never seen."""
    return generate_signing_key(algorithm, datetime(2026, 1, 1, tzinfo=UTC))


def attacker_forge(target: Target, algorithm: Algorithm, **header: Any) -> str:
    key = attacker_key(algorithm)
    return compact(
        headers_for(target, alg=algorithm, **header), claims_for(target), algorithm, key.signing_material
    )


def attacker_jwk(algorithm: Algorithm) -> dict[str, str]:
    key = attacker_key(algorithm)
    if algorithm == "HS256":
        assert key.secret is not None
        return {"kty": "oct", "kid": key.kid, "k": b64(key.secret)}
    jwk = key.public_jwk()
    assert jwk is not None
    return jwk


def attacker_certificate(algorithm: Algorithm) -> x509.Certificate:
    """A self-signed certificate for the attacker's key (what `x5c` would carry)."""
    key = attacker_key(algorithm if algorithm != "HS256" else "RS256").private_key
    assert key is not None
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "twostep")])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=3650))
    )
    digest = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(key, digest)


def public_key_encodings(target: Target) -> dict[str, bytes]:
    """Every form of the service's public key an HS256 key-confusion attack might use as the secret."""
    public = target.key.verification_material
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    forms = {
        "pem": public.public_bytes(serialization.Encoding.PEM, spki),
        "der": public.public_bytes(serialization.Encoding.DER, spki),
        "openssh": public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH),
        "jwk": json.dumps(target.key.public_jwk()).encode(),
    }
    if isinstance(public, rsa.RSAPublicKey):
        forms["pkcs1"] = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    return forms


def _split(token: str) -> tuple[str, str, str]:
    header, payload, signature = token.split(".")
    return header, payload, signature


def _none_alg(spelling: str, keep_signature: bool) -> Callable[[Target], str]:
    def attack(target: Target) -> str:
        signature = _split(forge(target))[2] if keep_signature else ""
        header = b64json(headers_for(target, alg=spelling))
        return f"Bearer {header}.{b64json(claims_for(target))}.{signature}"

    return attack


def _key_confusion(form: str) -> Callable[[Target], str]:
    def attack(target: Target) -> str:
        secret = public_key_encodings(target)[form]
        return "Bearer " + compact(headers_for(target, alg="HS256"), claims_for(target), "HS256", secret)

    return attack


def _alg_swap(algorithm: Algorithm) -> Callable[[Target], str]:
    return lambda target: "Bearer " + attacker_forge(target, algorithm)


def _with_header(**header: Any) -> Callable[[Target], str]:
    return lambda target: "Bearer " + forge(target, header=headers_for(target, **header))


def _with_claims(**claims: Any) -> Callable[[Target], str]:
    return lambda target: "Bearer " + forge(target, **claims)


def _with_claims_from(make: Callable[[Target], dict[str, Any]]) -> Callable[[Target], str]:
    return lambda target: "Bearer " + forge(target, **make(target))


def _embedded_jwk(target: Target) -> str:
    jwk = attacker_jwk(target.algorithm)
    return "Bearer " + attacker_forge(target, target.algorithm, jwk=jwk, kid=jwk["kid"])


def _remote_key(header_name: str, path: str) -> Callable[[Target], str]:
    def attack(target: Target) -> str:
        key = attacker_key(target.algorithm)
        url = f"{target.fetch_url}{path}"
        return "Bearer " + attacker_forge(target, target.algorithm, kid=key.kid, **{header_name: url})

    return attack


def _embedded_x5c(target: Target) -> str:
    certificate = attacker_certificate(target.algorithm)
    chain = [base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()]
    algorithm: Algorithm = target.algorithm if target.algorithm != "HS256" else "RS256"
    return "Bearer " + attacker_forge(target, algorithm, x5c=chain)


def _dev_null_kid(target: Target) -> str:
    """The classic: `kid` names a file whose content (empty) becomes the HMAC key."""
    header = headers_for(target, alg="HS256", kid="../../../../../../dev/null")
    return "Bearer " + compact(header, claims_for(target), "HS256", b"")


def _tampered_payload(target: Target) -> str:
    header, _, signature = _split(forge(target))
    payload = b64json(claims_for(target, email="admin@example.com", sub="admin"))
    return f"Bearer {header}.{payload}.{signature}"


def _tampered_header(target: Target) -> str:
    _, payload, signature = _split(forge(target))
    return f"Bearer {b64json(headers_for(target, typ='at+jwt', cty='JWT'))}.{payload}.{signature}"


def _spliced_signature(target: Target) -> str:
    """Header and payload of one token, the signature of another (the service's real one)."""
    header, payload, _ = _split(forge(target, sub="admin"))
    return f"Bearer {header}.{payload}.{_split(target.access_token)[2]}"


def _signature_bytes(make: Callable[[Target, bytes], bytes]) -> Callable[[Target], str]:
    def attack(target: Target) -> str:
        header, payload, signature = _split(forge(target))
        raw = base64.urlsafe_b64decode(signature + "==")
        return f"Bearer {header}.{payload}.{b64(make(target, raw))}"

    return attack


def _flip_last_bit(_: Target, raw: bytes) -> bytes:
    return raw[:-1] + bytes([raw[-1] ^ 1])


def _der_ecdsa(target: Target) -> str:
    """ES256 wants raw R||S; the same signature in DER must not be accepted."""
    header, payload, _ = _split(forge(target))
    key = target.key.signing_material
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    der = key.sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    return f"Bearer {header}.{payload}.{b64(der)}"


def _oversized(target: Target) -> str:
    return "Bearer " + forge(target, padding="x" * 9000)


def _json_serialized(general: bool) -> Callable[[Target], str]:
    def attack(target: Target) -> str:
        header, payload, signature = _split(target.access_token)
        if general:
            document = {"payload": payload, "signatures": [{"protected": header, "signature": signature}]}
        else:
            document = {"payload": payload, "protected": header, "signature": signature}
        return "Bearer " + json.dumps(document)

    return attack


def _insert(text: str) -> Callable[[Target], str]:
    def attack(target: Target) -> str:
        middle = len(target.access_token) // 2
        return f"Bearer {target.access_token[:middle]}{text}{target.access_token[middle:]}"

    return attack


def _standard_base64(target: Target) -> str:
    """The real token re-encoded with the `+/` alphabet and `=` padding (not compact JWS)."""
    parts = [base64.urlsafe_b64decode(part + "==") for part in target.access_token.split(".")]
    return "Bearer " + ".".join(base64.b64encode(part).decode() for part in parts)


def _raw_segments(header: bytes, payload: bytes) -> Callable[[Target], str]:
    return lambda target: f"Bearer {b64(header)}.{b64(payload)}.{b64(b'sig')}"


def _signed_payload(payload: bytes) -> Callable[[Target], str]:
    def attack(target: Target) -> str:
        return "Bearer " + compact(
            headers_for(target), payload, target.algorithm, target.key.signing_material
        )

    return attack


def _past(seconds: int) -> Callable[[Target], dict[str, Any]]:
    return lambda t: {"exp": t.now - t.leeway - seconds, "iat": t.now - t.ttl - t.leeway - seconds}


def _future(claim: str) -> Callable[[Target], dict[str, Any]]:
    return lambda t: {claim: t.now + t.leeway + 60}


Attack = Callable[[Target], str]


def catalogue() -> dict[str, tuple[Attack, tuple[Algorithm, ...]]]:
    """name -> (attack, the service algorithms it applies to)."""
    attacks: dict[str, tuple[Attack, tuple[Algorithm, ...]]] = {}

    def add(name: str, attack: Attack, algorithms: tuple[Algorithm, ...] = ALGORITHMS) -> None:
        attacks[name] = (attack, algorithms)

    # J1: alg none in any spelling, with and without a signature; key confusion; algorithm swaps.
    for spelling in ("none", "None", "NONE", "nOnE"):
        add(f"alg-{spelling}-unsigned", _none_alg(spelling, keep_signature=False))
        add(f"alg-{spelling}-with-signature", _none_alg(spelling, keep_signature=True))
    for form in ("pem", "der", "openssh", "jwk"):
        add(f"hs256-signed-with-public-key-{form}", _key_confusion(form), ASYMMETRIC)
    add("hs256-signed-with-public-key-pkcs1", _key_confusion("pkcs1"), ("RS256",))
    for algorithm in ALGORITHMS:
        others = tuple(a for a in ALGORITHMS if a != algorithm)
        add(f"{algorithm}-attacker-key-when-other-alg-expected", _alg_swap(algorithm), others)
    add("same-alg-attacker-key", lambda t: "Bearer " + attacker_forge(t, t.algorithm))
    add("hs256-weak-secret", lambda t: "Bearer " + compact(headers_for(t), claims_for(t), "HS256", b"secret"))
    # J3: keys only from the configured set.
    for name, kid in (
        ("unknown", "no-such-key"),
        ("path", "../../dev/null"),
        ("sql", "' OR 1=1--"),
        ("empty", ""),
        ("nul", "a\x00b"),
        ("number", 1),
        ("list", [1]),
        ("missing", DROP),
    ):
        add(f"kid-{name}", _with_header(kid=kid))
    add("kid-dev-null-empty-hmac", _dev_null_kid)
    add("jwk-embedded-attacker-key", _embedded_jwk)
    add("jku-attacker-jwks", _remote_key("jku", "/jwks.json"))
    add("x5u-attacker-certificate", _remote_key("x5u", "/cert.pem"))
    add("x5c-attacker-certificate", _embedded_x5c)
    # J4, J5: time.
    add("expired", _with_claims_from(_past(1)))
    add("expired-long-ago", _with_claims_from(_past(86400)))
    add("not-yet-valid-nbf", _with_claims_from(_future("nbf")))
    add("issued-in-the-future-iat", _with_claims_from(_future("iat")))
    for claim in ("exp", "iat", "nbf"):
        for label, value in (("string", "9999999999"), ("infinity", float("inf")), ("nan", float("nan"))):
            add(f"{claim}-{label}", _with_claims(**{claim: value}))
        add(f"{claim}-bool", _with_claims(**{claim: True}))
        add(f"{claim}-null", _with_claims(**{claim: None}))
    # J6: issuer exact match.
    for name, make_iss in (
        ("evil", lambda t: "https://evil.example"),
        ("suffix", lambda t: t.issuer + ".evil"),
        ("slash", lambda t: t.issuer + "/"),
        ("prefix", lambda t: t.issuer[:-1]),
        ("scheme", lambda t: t.issuer.replace("http", "https", 1)),
        ("upper", lambda t: t.issuer.upper()),
        ("space", lambda t: " " + t.issuer),
        ("list", lambda t: [t.issuer]),
        ("empty", lambda t: ""),
        ("null", lambda t: None),
    ):
        add(f"iss-{name}", _with_claims_from(lambda t, make_iss=make_iss: {"iss": make_iss(t)}))
    # J7: audience.
    for name, make_aud in (
        ("other", lambda t: "other-api"),
        ("suffix", lambda t: t.audience + "-evil"),
        ("prefix", lambda t: t.audience[:-1]),
        ("array-without-ours", lambda t: ["other-api", "another-api"]),
        ("empty-array", lambda t: []),
        ("null", lambda t: None),
        ("number", lambda t: 1),
    ):
        add(f"aud-{name}", _with_claims_from(lambda t, make_aud=make_aud: {"aud": make_aud(t)}))
    for claim in ("iss", "aud", "sub", "email", "iat", "exp", "jti", "amr", "sid", "auth_time"):
        add(f"missing-{claim}", _with_claims(**{claim: DROP}))
    for claim, value in (
        ("sub", ""),
        ("sub", 123),
        ("email", 42),
        ("jti", 7),
        ("amr", "pwd"),
        ("sid", ""),
        ("sid", 5),
        ("auth_time", "now"),
    ):
        add(f"{claim}-{type(value).__name__}-{value!s:.5}", _with_claims(**{claim: value}))
    # J2: signature always checked.
    add("tampered-payload", _tampered_payload)
    add("tampered-header", _tampered_header)
    add("spliced-signature", _spliced_signature)
    add("stripped-signature", lambda t: "Bearer " + t.access_token.rsplit(".", 1)[0] + ".")
    add("stripped-signature-no-dot", lambda t: "Bearer " + t.access_token.rsplit(".", 1)[0])
    add("null-signature", _signature_bytes(lambda _, raw: bytes(len(raw))))
    add("one-byte-signature", _signature_bytes(lambda _, raw: b"\x00"))
    add("flipped-signature-bit", _signature_bytes(_flip_last_bit))
    add("truncated-signature", _signature_bytes(lambda _, raw: raw[: len(raw) // 2]))
    add("ecdsa-der-signature", _der_ecdsa, ("ES256",))
    # J10, J8: crit and explicit typing.
    add("crit-exp", _with_header(crit=["exp"]))
    add("crit-unknown", _with_header(crit=["x-twostep"], **{"x-twostep": True}))
    add("crit-b64", _with_header(crit=["b64"], b64=False))
    add("crit-empty", _with_header(crit=[]))
    for name, typ in (
        ("missing", DROP),
        ("jwt", "JWT"),
        ("empty", ""),
        ("refresh", "rt+jwt"),
        ("list", ["at+jwt"]),
    ):
        add(f"typ-{name}", _with_header(typ=typ))
    add("alg-list", _with_header(alg=["RS256"]))
    add("alg-missing", _with_header(alg=DROP))
    # Other kinds of token used as an access token.
    add("refresh-token-as-access-token", lambda t: f"Bearer {t.refresh_token}")
    add("otp-id-as-access-token", lambda t: f"Bearer {t.otp_id}")
    add("refresh-token-raw", lambda t: t.refresh_token)
    # J9: only compact JWS of bounded size.
    add("oversized-9kb", _oversized)
    add("json-serialized-flattened", _json_serialized(general=False))
    add("json-serialized-general", _json_serialized(general=True))
    add("four-segments", lambda t: f"Bearer {t.access_token}.{_split(t.access_token)[2]}")
    add("five-segments-jwe-shape", lambda t: f"Bearer {t.access_token}.AAAA.BBBB")
    add("two-segments", lambda t: "Bearer " + ".".join(_split(t.access_token)[:2]))
    add("one-segment", lambda t: "Bearer " + _split(t.access_token)[1])
    add("space-inside", _insert(" "))
    add("tab-inside", _insert("\t"))
    add("brace-inside", _insert("{"))
    add("standard-base64", _standard_base64)
    add("padded-segments", lambda t: "Bearer " + ".".join(p + "==" for p in _split(t.access_token)))
    add("garbage", lambda t: "Bearer !!!.@@@.###")
    add("garbage-abc", lambda t: "Bearer a.b.c")
    add("header-not-json", _raw_segments(b"not json", b"{}"))
    add("header-json-array", _raw_segments(b'["alg","none"]', b"{}"))
    add("header-deeply-nested", _raw_segments(b"[" * 2000 + b"]" * 2000, b"{}"))
    add("header-not-utf8", _raw_segments(b"\xff\xfe\xfd", b"{}"))
    add("payload-not-json", _signed_payload(b"not json"))
    add("payload-json-array", _signed_payload(b'["sub","admin"]'))
    add("payload-deeply-nested", _signed_payload(b'{"a":' + b"[" * 2000 + b"]" * 2000 + b"}"))
    add("empty-bearer", lambda t: "Bearer ")
    add("bearer-only", lambda t: "Bearer")
    add("double-bearer", lambda t: f"Bearer Bearer {t.access_token}")
    add("basic-scheme", lambda t: "Basic " + base64.b64encode(b"admin:admin").decode())
    add("non-ascii", lambda t: "Bearer " + t.access_token[:-2] + "é")
    return attacks


def cases() -> list[tuple[Algorithm, str]]:
    """(service algorithm, attack name) for every attack that applies to that algorithm."""
    return [
        (algorithm, name)
        for name, (_, algorithms) in catalogue().items()
        for algorithm in ALGORITHMS
        if algorithm in algorithms
    ]


def valid_with_remote_key_headers(target: Target) -> str:
    """A token signed with the real key that also names remote keys; they are ignored, never fetched."""
    header = headers_for(
        target,
        jku=f"{target.fetch_url}/jwks.json",
        x5u=f"{target.fetch_url}/cert.pem",
    )
    return "Bearer " + forge(target, header=header)

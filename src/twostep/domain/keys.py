"""Signing keys and the secret material twostep keeps: JWT keys (current + previous) and the code HMAC key.

A `KeyMaterial` is what a key source (a local file in dev, Secrets Manager on AWS) hands the container.
Records are plain JSON-able dicts so any secret store can hold them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

Algorithm = Literal["RS256", "ES256", "EdDSA", "HS256"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

# 2048-bit RSA: 112-bit strength (NIST SP 800-57, fine through 2030) and the fastest asymmetric verify,
# which the authorizer pays on every request. Raise it with TWOSTEP_JWT_RSA_BITS where policy asks.
DEFAULT_RSA_BITS = 2048


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: Algorithm
    created_at: datetime
    private_key: PrivateKey | None = None
    secret: bytes | None = None  # HS256 only
    retired_at: datetime | None = None
    # Published at once, signs only from this moment (None: from its creation), so that every cache of
    # the key set (API Gateway's, other servers') has it before it meets a token signed with it.
    activates_at: datetime | None = None
    # The public half alone, for a key read from a secret's public part (`public_record`): it verifies
    # and is published, never signs.
    public_key: PublicKey | None = None

    def active_at(self, now: datetime) -> bool:
        return self.activates_at is None or self.activates_at <= now

    @property
    def signing_material(self) -> Any:
        return self.secret if self.algorithm == "HS256" else self.private_key

    @property
    def verification_material(self) -> Any:
        if self.algorithm == "HS256":
            return self.secret
        return self._public()

    def _public(self) -> PublicKey:
        if self.private_key is not None:
            return self.private_key.public_key()
        assert self.public_key is not None
        return self.public_key

    def public_jwk(self) -> dict[str, str] | None:
        """The JWKS entry; None for HS256, whose key is never published."""
        if self.algorithm == "HS256" or (self.private_key is None and self.public_key is None):
            return None
        public = self._public()
        base = {"kid": self.kid, "use": "sig", "alg": self.algorithm}
        if isinstance(public, rsa.RSAPublicKey):
            numbers = public.public_numbers()
            return {**base, "kty": "RSA", "n": _int_b64(numbers.n), "e": _int_b64(numbers.e)}
        if isinstance(public, ec.EllipticCurvePublicKey):
            point = public.public_numbers()
            return {
                **base,
                "kty": "EC",
                "crv": "P-256",
                "x": _b64url(point.x.to_bytes(32, "big")),
                "y": _b64url(point.y.to_bytes(32, "big")),
            }
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {**base, "kty": "OKP", "crv": "Ed25519", "x": _b64url(raw)}

    def to_record(self) -> dict[str, str]:
        record = {"kid": self.kid, "alg": self.algorithm, "created_at": self.created_at.isoformat()}
        if self.retired_at is not None:
            record["retired_at"] = self.retired_at.isoformat()
        if self.activates_at is not None:
            record["activates_at"] = self.activates_at.isoformat()
        if self.secret is not None:
            record["secret"] = _b64url(self.secret)
        if self.private_key is not None:
            pem = self.private_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            record["private_pem"] = pem.decode()
        return record

    def public_record(self) -> dict[str, str]:
        """`to_record` with the public key (SubjectPublicKeyInfo PEM) in place of the private one.

        Raises:
            ValueError: an HS256 key, whose only material is its secret.
        """
        if self.algorithm == "HS256":
            raise ValueError("an HS256 key has no public part")
        record = {
            name: value for name, value in self.to_record().items() if name not in ("private_pem", "secret")
        }
        pem = self._public().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        record["public_pem"] = pem.decode()
        return record

    @classmethod
    def from_record(cls, record: dict[str, str]) -> SigningKey:
        private_key = None
        public_key = None
        if "private_pem" in record:
            # Records come only from twostep's own key store (the 0600 key file it wrote, or the secret it
            # is given), so OpenSSL's RSA consistency check is skipped: it took 50-90 ms per key, on every
            # cold start of the authorizer and the API (the bench measured it). A damaged key would still
            # show at once, as tokens that fail verification.
            loaded = serialization.load_pem_private_key(
                record["private_pem"].encode(), password=None, unsafe_skip_rsa_key_validation=True
            )
            if not isinstance(
                loaded, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
            ):
                raise ValueError("unsupported key type in key record")
            private_key = loaded
        elif "public_pem" in record:
            public = serialization.load_pem_public_key(record["public_pem"].encode())
            if not isinstance(
                public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
            ):
                raise ValueError("unsupported key type in key record")
            public_key = public
        secret = base64.urlsafe_b64decode(record["secret"] + "==") if "secret" in record else None
        retired = record.get("retired_at")
        activates = record.get("activates_at")
        return cls(
            kid=record["kid"],
            algorithm=record["alg"],  # type: ignore[arg-type]
            created_at=datetime.fromisoformat(record["created_at"]),
            private_key=private_key,
            public_key=public_key,
            secret=secret,
            retired_at=datetime.fromisoformat(retired) if retired else None,
            activates_at=datetime.fromisoformat(activates) if activates else None,
        )


def generate_signing_key(algorithm: Algorithm, now: datetime, rsa_bits: int = DEFAULT_RSA_BITS) -> SigningKey:
    """A fresh key of the given algorithm, with a random `kid`."""
    kid = secrets.token_urlsafe(12)
    if algorithm == "HS256":
        return SigningKey(kid=kid, algorithm=algorithm, created_at=now, secret=secrets.token_bytes(32))
    private_key: PrivateKey
    if algorithm == "RS256":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
    elif algorithm == "ES256":
        private_key = ec.generate_private_key(ec.SECP256R1())
    else:
        private_key = ed25519.Ed25519PrivateKey.generate()
    return SigningKey(kid=kid, algorithm=algorithm, created_at=now, private_key=private_key)


def hs256_key_from_secret(secret: bytes, now: datetime) -> SigningKey:
    """An HS256 key from a configured secret; the kid is derived so all instances agree on it."""
    kid = "hs-" + hashlib.sha256(b"twostep-kid\x00" + secret).hexdigest()[:16]
    return SigningKey(kid=kid, algorithm="HS256", created_at=now, secret=secret)


@dataclass(frozen=True)
class KeyMaterial:
    """The newest key first (it may still wait for its activation), then older keys still published."""

    signing_keys: tuple[SigningKey, ...]
    otp_hmac_key: bytes
    extra: dict[str, str] = field(default_factory=dict)  # provider credentials kept in the same secret

    @property
    def current(self) -> SigningKey:
        """The newest key; `signing_key(now)` is the one that signs."""
        return self.signing_keys[0]

    def signing_key(self, now: datetime) -> SigningKey:
        """The newest key already active at `now` (a key waiting for its activation is only published)."""
        for key in self.signing_keys:
            if key.active_at(now):
                return key
        return self.signing_keys[-1]  # only pending keys: cannot happen with `rotated`, signs with the oldest

    def signing_key_of(
        self, algorithm: Algorithm, now: datetime, max_token_age: timedelta
    ) -> SigningKey | None:
        """The newest key of `algorithm` that is active at `now` and whose tokens still verify, or None.

        A process pinned to one algorithm signs with this, never with a key of another algorithm that a
        rotation from a process configured differently added: its own verifier would refuse that key's
        tokens. A key retired by such a rotation goes on signing until its tokens would be refused.
        """
        for key in self.signing_keys:
            if (
                key.algorithm == algorithm
                and key.active_at(now)
                and (key.retired_at is None or key.retired_at + max_token_age > now)
            ):
                return key
        return None

    def verification_keys(self, now: datetime, max_token_age: timedelta) -> dict[str, SigningKey]:
        """Keys whose tokens may still be alive: the current one and those retired less than a token ago."""
        return {
            key.kid: key
            for key in self.signing_keys
            if key.retired_at is None or key.retired_at + max_token_age > now
        }

    def verification_ends(self, max_token_age: timedelta) -> dict[str, float]:
        """When each retired key stops verifying (epoch seconds): the moment `verification_keys` leaves it
        out, for a verifier kept past it (`domain.tokens.refuse_retired_key`)."""
        return {
            key.kid: (key.retired_at + max_token_age).timestamp()
            for key in self.signing_keys
            if key.retired_at is not None
        }

    def rotated(
        self,
        algorithm: Algorithm,
        now: datetime,
        rsa_bits: int = DEFAULT_RSA_BITS,
        activation_delay: timedelta = timedelta(0),
    ) -> KeyMaterial:
        """A new key, published now and signing from `now + activation_delay`; the keys it replaces
        retire at that moment at the latest (and are dropped once long expired)."""
        activates = now + activation_delay
        fresh = generate_signing_key(algorithm, now, rsa_bits)
        if activation_delay > timedelta(0):
            fresh = replace(fresh, activates_at=activates)
        keep = [
            _retired_by(key, activates)
            for key in self.signing_keys
            if key.retired_at is None or now - key.retired_at < timedelta(days=2)
        ]
        return replace(self, signing_keys=(fresh, *keep))

    def adopted(self, key: SigningKey, now: datetime) -> KeyMaterial:
        """`key` (a configured one, such as an HS256 secret's) signing from `now`; every other key
        retires now at the latest."""
        keep = [
            _retired_by(old, now)
            for old in self.signing_keys
            if old.kid != key.kid and (old.retired_at is None or now - old.retired_at < timedelta(days=2))
        ]
        return replace(self, signing_keys=(replace(key, activates_at=None, retired_at=None), *keep))

    def to_json(self) -> str:
        return json.dumps(
            {
                "signing_keys": [key.to_record() for key in self.signing_keys],
                "otp_hmac_key": _b64url(self.otp_hmac_key),
                **({"extra": self.extra} if self.extra else {}),
            },
            indent=2,
        )

    def public_records(self) -> list[dict[str, str]]:
        """Every key's `public_record`. Raises: ValueError (an HS256 key)."""
        return [key.public_record() for key in self.signing_keys]

    @classmethod
    def from_public_records(cls, records: list[dict[str, str]]) -> KeyMaterial:
        """Keys that only verify (no private key, no code HMAC key, no `extra`), as a verifier that must
        never hold more reads them. Raises: ValueError, KeyError, TypeError."""
        keys = tuple(SigningKey.from_record(record) for record in records)
        if not keys or any(key.private_key is not None or key.secret is not None for key in keys):
            raise ValueError("public key records hold no key, or private material")
        return cls(signing_keys=keys, otp_hmac_key=b"")

    @classmethod
    def from_json(cls, text: str) -> KeyMaterial:
        data = json.loads(text)
        keys = tuple(SigningKey.from_record(record) for record in data["signing_keys"])
        if not keys:
            raise ValueError("the key material holds no signing key")
        return cls(
            signing_keys=keys,
            otp_hmac_key=base64.urlsafe_b64decode(data["otp_hmac_key"] + "=="),
            extra={str(k): str(v) for k, v in data.get("extra", {}).items()},
        )

    @classmethod
    def generate(cls, algorithm: Algorithm, now: datetime, rsa_bits: int = DEFAULT_RSA_BITS) -> KeyMaterial:
        return cls(
            signing_keys=(generate_signing_key(algorithm, now, rsa_bits),),
            otp_hmac_key=secrets.token_bytes(32),
        )


def _retired_by(key: SigningKey, moment: datetime) -> SigningKey:
    """`key` retired at `moment`, or earlier if it already was. A key still waiting for its retirement
    (a rotation with an activation delay, not yet due) is brought forward too: a rotation without delay
    after a leak must end the leaked key's tokens a token lifetime from now, not from the earlier
    rotation's activation."""
    if key.retired_at is not None and key.retired_at <= moment:
        return key
    return replace(key, retired_at=moment)


@dataclass(frozen=True)
class VersionedKeys:
    """Key material as one source holds it now; `version` changes with every change of the material."""

    material: KeyMaterial
    version: str

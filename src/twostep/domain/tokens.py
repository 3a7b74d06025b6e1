"""Access tokens (JWT) and refresh tokens (opaque), following RFC 8725.

The verifier pins one algorithm, needs every claim, checks time against an injected clock with a small
leeway, and reads keys only from the configured key set: `jku`, `x5u`, `jwk` and `x5c` headers are never
used, an unknown `kid` or a `crit` header is refused. It imports nothing but the standard library at
import time and PyJWT when an issuer or a PyJWT verifier is made, so the API Gateway authorizer, whose
RS256 check (`rs256_verifier.py`) needs no PyJWT, can load the claim checks quickly.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime

from twostep.domain.clock import Clock
from twostep.domain.cold_start_typing import TYPE_CHECKING, NamedTuple
from twostep.domain.errors import InvalidToken, UnknownSigningKey
from twostep.domain.ids import new_uuid4
from twostep.domain.json_text import dumps_like_json

if TYPE_CHECKING:
    from typing import Any

ACCESS_TOKEN_TYPE = "at+jwt"
MAX_TOKEN_LENGTH = 8192
REQUIRED_CLAIMS = ("iss", "aud", "sub", "email", "iat", "exp", "jti", "amr", "sid", "auth_time")
_COMPACT_JWS = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")


class AccessClaims(NamedTuple):  # not a dataclass: `dataclasses` imports `inspect`, a cold-start cost
    sub: str
    email: str
    jti: str
    iat: int
    exp: int
    amr: tuple[str, ...]
    sid: str  # the sign-in session (refresh-token family): what revocation ends
    auth_time: int  # when the person last proved who they are (OIDC `auth_time`)


class TokenIssuer:
    """Signs access tokens with the current key; `kid` tells verifiers which key to use.

    The token is PyJWT's own encoding (the same bytes `jwt.encode` gives: sorted compact header, compact
    claims, base64url without padding), made with the algorithm object and the key prepared once here:
    `jwt.encode` looks both up, checks the key and rebuilds the header on every call. An RS256 token is
    signed by the key itself with PKCS#1 v1.5 padding and SHA-256 made once (what PyJWT's `RSAAlgorithm.sign`
    makes anew for every token); the signature is the same bytes (PKCS#1 v1.5 is deterministic; tested
    against `jwt.encode` on thousands of tokens).
    """

    def __init__(
        self,
        *,
        kid: str,
        algorithm: str,
        key: Any,
        issuer: str,
        audience: str,
        ttl_seconds: int,
        clock: Clock,
    ) -> None:
        self._kid, self._algorithm = kid, algorithm
        self._issuer, self._audience, self._ttl = issuer, audience, ttl_seconds
        self._clock = clock
        import jwt  # here, not at import: the authorizer uses this module's claim checks without PyJWT

        self._signer = jwt.PyJWS().get_algorithm_by_name(algorithm)
        self._key = self._signer.prepare_key(key)
        if weak := self._signer.check_key_length(self._key):
            import warnings

            warnings.warn(weak, jwt.InsecureKeyLengthWarning, stacklevel=2)
        self._sign = _signing(self._signer, self._key)
        header = {"typ": ACCESS_TOKEN_TYPE, "alg": algorithm, "kid": kid}
        self._header = _b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode())

    @property
    def ttl_seconds(self) -> int:
        return self._ttl

    @property
    def kid(self) -> str:
        return self._kid

    def issue(
        self,
        *,
        user_id: str,
        email: str,
        amr: tuple[str, ...],
        sid: str,
        auth_time: int,
        not_after: int | None = None,
    ) -> str:
        """A signed access token; `not_after`: its session's end (epoch seconds), which it never outlives."""
        now = int(self._clock.now().timestamp())
        expires = now + self._ttl if not_after is None else min(now + self._ttl, not_after)
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": user_id,
            "email": email,
            "iat": now,
            "nbf": now,
            "exp": expires,
            "jti": new_uuid4(),
            "amr": list(amr),
            "sid": sid,
            "auth_time": auth_time,
        }
        signing_input = self._header + b"." + _b64url(_compact_json(claims).encode())
        return (signing_input + b"." + _b64url(self._sign(signing_input))).decode()


_compact_json = dumps_like_json((",", ":"))  # json.dumps(claims, separators=(",", ":")), as PyJWT's


def _signing(algorithm: Any, key: Any) -> Callable[[bytes], bytes]:
    """`algorithm.sign(data, key)`: PyJWT's RSA signing (RS256/384/512, not PSS) without making its
    padding and hash objects for every token; any other algorithm through PyJWT's own code."""
    from jwt.algorithms import RSAAlgorithm

    if type(algorithm) is not RSAAlgorithm:
        return lambda data: algorithm.sign(data, key)
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15

    padding, digest = PKCS1v15(), algorithm.hash_alg()
    sign = key.sign
    return lambda data: sign(data, padding, digest)


def _b64url(data: bytes) -> bytes:
    """RFC 7515 base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=")


class TokenVerifier:
    """Checks access tokens. Every failure raises `InvalidToken` with the same public message."""

    def __init__(
        self,
        *,
        algorithm: str,
        keys: Mapping[str, Any],
        issuer: str,
        audience: str,
        leeway_seconds: int,
        clock: Clock,
        key_ends: Mapping[str, float] | None = None,
    ) -> None:
        self._algorithm = algorithm
        self._keys = dict(keys)
        self._key_ends = dict(key_ends or {})  # see `refuse_retired_key`
        self._issuer, self._audience = issuer, audience
        self._leeway = leeway_seconds
        self._clock = clock
        import jwt  # here, not at import: see the module docstring

        self._jwt = jwt.PyJWT(options={"verify_signature": True})
        # a payload nested past json's recursion limit raises RecursionError
        self._decode_errors: tuple[type[Exception], ...] = (jwt.PyJWTError, RecursionError)

    def verify(self, token: str) -> AccessClaims:
        """Raises: InvalidToken (UnknownSigningKey: the `kid` is not one of the keys)."""
        header = checked_header(token, self._algorithm)
        key = self._keys.get(header["kid"])
        if key is None:
            raise UnknownSigningKey()
        now = self._clock.now().timestamp()
        refuse_retired_key(self._key_ends.get(header["kid"]), now)
        try:
            claims = self._jwt.decode(
                token,
                key,
                algorithms=[self._algorithm],
                audience=self._audience,
                issuer=self._issuer,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "strict_aud": True,
                },
            )
        except self._decode_errors as exc:
            raise InvalidToken() from exc
        return checked_claims(claims, now, self._leeway)


def refuse_retired_key(ends: float | None, now: float) -> None:
    """A verifier is built with the keys published when it is built and kept a while (a minute in the
    API, a key refresh in the authorizer); a retired key must stop verifying when it leaves the JWKS,
    not when the verifier is next built, so each retired key carries that moment (`ends`, epoch seconds).

    Raises:
        InvalidToken: the key's tokens have all expired (and no new one may be believed).
    """
    if ends is not None and now >= ends:
        raise InvalidToken()


def checked_header(token: str, algorithm: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS of the expected shape, `alg`, `typ` and a string `kid`.

    Raises:
        InvalidToken: anything else (also any `crit` header: no extension is understood).
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not _COMPACT_JWS.match(token):
        raise InvalidToken()
    header = _unverified_header(token)
    if (
        header.get("alg") != algorithm
        or header.get("typ") != ACCESS_TOKEN_TYPE
        or "crit" in header
        or not isinstance(header.get("kid"), str)
    ):
        raise InvalidToken()
    return header


def checked_claims(claims: dict[str, Any], now: float, leeway: int) -> AccessClaims:
    """twostep's own claim checks after PyJWT's (times with `leeway`, types, `auth_time`).

    Raises:
        InvalidToken: a claim is missing, mistyped or out of time.
    """
    try:
        exp, iat = _numeric_date(claims["exp"]), _numeric_date(claims["iat"])
        nbf = _numeric_date(claims.get("nbf", iat))
        sub, email, jti, sid = claims["sub"], claims["email"], claims["jti"], claims["sid"]
        amr = _string_list(claims["amr"])
        auth_time = _numeric_date(claims["auth_time"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidToken() from exc
    if exp <= now - leeway or nbf > now + leeway or iat > now + leeway:
        raise InvalidToken()
    if not all(isinstance(value, str) and value for value in (sub, email, jti, sid)):
        raise InvalidToken()
    if auth_time > iat + leeway:
        raise InvalidToken()
    return AccessClaims(
        sub=sub, email=email, jti=jti, iat=iat, exp=exp, amr=amr, sid=sid, auth_time=auth_time
    )


def _unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header of a token already matched by `_COMPACT_JWS`, to pick the key.

    Not `jwt.get_unverified_header`: that re-checks all three segments character by character in
    Python, which doubled PyJWT's cost per verification (the bench measured it); `decode` still
    parses and checks the whole token afterwards.
    """
    segment = token.partition(".")[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, RecursionError) as exc:  # binascii, Unicode and JSON errors; absurdly nested JSON
        raise InvalidToken() from exc
    if not isinstance(header, dict):
        raise InvalidToken()
    return header


def _numeric_date(value: object) -> int:
    """RFC 7519 NumericDate: a finite JSON number (not a string, a boolean or Infinity, which json allows).

    Raises:
        ValueError: anything else.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("not a NumericDate")
    return int(value)


def _string_list(value: object) -> tuple[str, ...]:
    """RFC 8176 `amr`: a JSON array of strings (a bare string would otherwise iterate as letters).

    Raises:
        TypeError: anything else.
    """
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError("not a list of strings")
    return tuple(value)


def has_second_factor(amr: tuple[str, ...]) -> bool:
    """Whether a sign-in used two factors: RFC 8176 `mfa`, or two different methods (`pwd` + `sms`)."""
    methods = set(amr)
    return "mfa" in methods or len(methods) >= 2


def new_refresh_token() -> str:
    """256 bits from the CSPRNG; only its hash is stored."""
    import secrets  # here: the authorizer never makes one

    return "rt_" + secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def extract_bearer(header_value: str | None) -> str | None:
    """`Bearer <jwt>` (any case) or a raw `<jwt>`, as the Lambda JWT tutorial and the serverless message board send it."""
    if not header_value:
        return None
    value = header_value.strip()
    scheme, _, rest = value.partition(" ")
    if rest and scheme.lower() == "bearer":
        value = rest.strip()
    return value or None


def timestamp(moment: datetime) -> int:
    return int(moment.timestamp())

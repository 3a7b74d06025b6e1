"""The access-token check for `RS256` without PyJWT, for the API Gateway authorizer's cold start.

It accepts exactly the tokens `TokenVerifier` (PyJWT plus twostep's checks) accepts with the same keys,
issuer, audience, leeway and clock: the same compact-JWS shape and header rules (`checked_header`),
then what PyJWT's `decode` checks with the options `TokenVerifier` gives it (the `b64` header, the
signature, a JSON object payload, every required claim present and not null, `iss` a string equal to
the issuer, `aud` a string equal to the audience, `sub` and `jti` strings), then the same
`checked_claims`. `tests/unit/test_rs256_differential.py` holds the two to the same answer on
thousands of generated good and bad tokens, and the JWT attack catalogue runs against the authorizer.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping

from twostep.domain.clock import Clock
from twostep.domain.cold_start_typing import TYPE_CHECKING
from twostep.domain.errors import InvalidToken, UnknownSigningKey
from twostep.domain.rsa_pkcs1 import RsaPublicKey
from twostep.domain.tokens import (
    REQUIRED_CLAIMS,
    AccessClaims,
    checked_claims,
    checked_header,
    refuse_retired_key,
)

if TYPE_CHECKING:
    from typing import Any

ALGORITHM = "RS256"


class Rs256TokenVerifier:
    """Checks RS256 access tokens. Every failure raises `InvalidToken` with the same public message."""

    def __init__(
        self,
        *,
        keys: Mapping[str, RsaPublicKey],
        issuer: str,
        audience: str,
        leeway_seconds: int,
        clock: Clock,
        key_ends: Mapping[str, float] | None = None,
    ) -> None:
        self._keys = dict(keys)
        self._key_ends = dict(key_ends or {})  # see `refuse_retired_key`
        self._issuer, self._audience = issuer, audience
        self._leeway = leeway_seconds
        self._clock = clock

    def verify(self, token: str) -> AccessClaims:
        """Raises: InvalidToken (UnknownSigningKey: the `kid` is not one of the keys)."""
        header = checked_header(token, ALGORITHM)  # shape, length, alg, typ, kid; no crit
        key = self._keys.get(header["kid"])
        if key is None:
            raise UnknownSigningKey()
        now = self._clock.now().timestamp()
        refuse_retired_key(self._key_ends.get(header["kid"]), now)
        if header.get("b64", True) is False:  # an unencoded payload (RFC 7797): refused
            raise InvalidToken()
        signing_input, _, signature_segment = token.rpartition(".")
        header_segment, _, payload_segment = signing_input.partition(".")
        _segment_bytes(header_segment)  # parsed above; here only held to the canonical encoding
        signature = _segment_bytes(signature_segment)
        payload_bytes = _segment_bytes(payload_segment)
        if not key.verify(signing_input.encode("ascii"), signature):
            raise InvalidToken()
        try:
            claims = json.loads(payload_bytes)
        except (ValueError, RecursionError) as exc:  # JSON and Unicode errors; absurdly nested JSON
            raise InvalidToken() from exc
        if not isinstance(claims, dict):
            raise InvalidToken()
        self._check_registered_claims(claims)
        return checked_claims(claims, now, self._leeway)

    def _check_registered_claims(self, claims: dict[str, Any]) -> None:
        """What PyJWT's `_validate_claims` checks under `TokenVerifier`'s options."""
        if any(claims.get(name) is None for name in REQUIRED_CLAIMS):
            raise InvalidToken()
        issuer, audience = claims["iss"], claims["aud"]
        if not isinstance(issuer, str) or issuer != self._issuer:
            raise InvalidToken()
        if not isinstance(audience, str) or audience != self._audience:  # strict: one string, no list
            raise InvalidToken()
        if not isinstance(claims["sub"], str) or not isinstance(claims["jti"], str):
            raise InvalidToken()


def _segment_bytes(segment: str) -> bytes:
    """A base64url segment (already matched to the alphabet and unpadded), decoded as PyJWT decodes it:
    only its canonical spelling (unused low bits of the last character zero) is accepted.

    Raises:
        InvalidToken: a length of 4k + 1, or a non-canonical last character.
    """
    try:
        decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except binascii.Error as exc:
        raise InvalidToken() from exc
    if base64.urlsafe_b64encode(decoded).rstrip(b"=") != segment.encode("ascii"):
        raise InvalidToken()
    return decoded

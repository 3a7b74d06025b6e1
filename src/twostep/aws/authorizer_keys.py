"""The authorizer's RS256 verifier straight from the key file, without `cryptography` or PyJWT.

The key file is the JSON `KeyMaterial.to_json` writes; only the public numbers `(n, e)` of each key are
needed, read from its PKCS#8 PEM by a small DER walk. The keys kept are the ones `build_verifier`
keeps (`KeyMaterial.verification_keys`: not retired, or retired less than a token lifetime ago).

Only the plain case is handled here: an existing, readable file whose current key is RS256 and whose
every record parses. Anything else (no file yet, another algorithm, a rotation due, a damaged record)
returns None, and the authorizer takes the general path (`load_key_material` + `build_verifier`), which
creates, rotates or reports the problem exactly as before.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from twostep.aws.authorizer_settings import AuthorizerSettings
from twostep.domain.clock import Clock
from twostep.domain.rs256_verifier import ALGORITHM, Rs256TokenVerifier
from twostep.domain.rsa_pkcs1 import RsaPublicKey, public_key_from_pkcs8_pem


def rs256_keys(text: str, now: datetime, max_token_age: timedelta) -> dict[str, RsaPublicKey] | None:
    """The verification keys of a key file's text, or None if it is not the plain RS256 case."""
    try:
        data = json.loads(text)
        records = data["signing_keys"]
        if not records or "otp_hmac_key" not in data or records[0]["alg"] != ALGORITHM:
            return None
        keys: dict[str, RsaPublicKey] = {}
        for record in records:
            if record["alg"] != ALGORITHM:
                return None  # a mixed file: leave it to the general path
            datetime.fromisoformat(record["created_at"])  # every record must parse, as `from_json` needs
            public = public_key_from_pkcs8_pem(record["private_pem"])
            retired = record.get("retired_at")
            if not retired or datetime.fromisoformat(retired) + max_token_age > now:
                keys[record["kid"]] = public
        return keys
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None


def rs256_verifier_from_file(settings: AuthorizerSettings, clock: Clock) -> Rs256TokenVerifier | None:
    """The verifier for a plain RS256 key file, or None (see the module docstring)."""
    if settings.jwt_algorithm != ALGORITHM or settings.secret_arn:
        return None
    try:
        text = settings.jwt_key_file.read_text()
    except (OSError, ValueError):
        return None
    now = clock.now()
    max_age = timedelta(seconds=settings.access_token_ttl_seconds + settings.jwt_leeway_seconds)
    keys = rs256_keys(text, now, max_age)
    if keys is None:
        return None
    return Rs256TokenVerifier(
        keys=keys,
        issuer=settings.issuer,
        audience=settings.audience,
        leeway_seconds=settings.jwt_leeway_seconds,
        clock=clock,
    )

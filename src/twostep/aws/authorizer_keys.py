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
from typing import TYPE_CHECKING

from twostep.aws.authorizer_settings import AuthorizerSettings
from twostep.domain.clock import Clock
from twostep.domain.rs256_verifier import ALGORITHM, Rs256TokenVerifier
from twostep.domain.rsa_pkcs1 import RsaPublicKey, public_key_from_pkcs8_pem

if TYPE_CHECKING:
    from pathlib import Path


# One key record as the refresh needs it: its kid, its public key, and when it was retired (None: not).
KeyRecord = tuple[str, RsaPublicKey, datetime | None]


def parse_records(text: str) -> tuple[KeyRecord, ...] | None:
    """Every record of a key file's text, or None if it is not the plain RS256 case."""
    try:
        data = json.loads(text)
        records = data["signing_keys"]
        if not records or "otp_hmac_key" not in data or records[0]["alg"] != ALGORITHM:
            return None
        parsed: list[KeyRecord] = []
        for record in records:
            if record["alg"] != ALGORITHM:
                return None  # a mixed file: leave it to the general path
            datetime.fromisoformat(record["created_at"])  # every record must parse, as `from_json` needs
            retired = record.get("retired_at")
            retired_at = datetime.fromisoformat(retired) if retired else None
            parsed.append((record["kid"], public_key_from_pkcs8_pem(record["private_pem"]), retired_at))
        return tuple(parsed)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None


def kept_keys(
    records: tuple[KeyRecord, ...], now: datetime, max_token_age: timedelta
) -> dict[str, RsaPublicKey]:
    """The verification keys at `now`: not retired, or retired less than a token lifetime ago."""
    return {
        kid: public
        for kid, public, retired_at in records
        if retired_at is None or retired_at + max_token_age > now
    }


def rs256_keys(text: str, now: datetime, max_token_age: timedelta) -> dict[str, RsaPublicKey] | None:
    """The verification keys of a key file's text, or None if it is not the plain RS256 case."""
    records = parse_records(text)
    return None if records is None else kept_keys(records, now, max_token_age)


class LastRead:
    """The key file's text at the last refresh and its parsed records.

    A warm authorizer reads the file every refresh (a small read) but parses it again only when its text
    changed; the same `RsaPublicKey` objects are then kept, with the OpenSSL key each already built, so
    a refresh costs no DER walk and no check in pure Python. Which keys are kept is still decided anew
    each time: a retired key ages out without the file changing.
    """

    def __init__(self) -> None:
        self._read: tuple[Path, str] | None = None
        self._records: tuple[KeyRecord, ...] | None = None

    def records(self, path: Path, text: str) -> tuple[KeyRecord, ...] | None:
        if self._read != (path, text):
            self._read, self._records = (path, text), parse_records(text)
        return self._records


_last_read = LastRead()  # per Lambda container, like the verifier it feeds


def rs256_verifier_from_file(settings: AuthorizerSettings, clock: Clock) -> Rs256TokenVerifier | None:
    """The verifier for a plain RS256 key file, or None (see the module docstring)."""
    if settings.jwt_algorithm != ALGORITHM or settings.secret_arn:
        return None
    try:
        text = settings.jwt_key_file.read_text()
    except (OSError, ValueError):
        return None
    records = _last_read.records(settings.jwt_key_file, text)
    if records is None:
        return None
    max_age = timedelta(seconds=settings.access_token_ttl_seconds + settings.jwt_leeway_seconds)
    return Rs256TokenVerifier(
        keys=kept_keys(records, clock.now(), max_age),
        issuer=settings.issuer,
        audience=settings.audience,
        leeway_seconds=settings.jwt_leeway_seconds,
        clock=clock,
    )

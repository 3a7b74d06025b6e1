"""The authorizer's RS256 verifier straight from the key file or the secret, without `cryptography`,
PyJWT or boto3.

The key file, like the secret's value on AWS (`TWOSTEP_SECRET_ARN`, read with one signed request of
`aws.signed_calls`), is the JSON `KeyMaterial.to_json` writes; only the public numbers `(n, e)` of each
key are needed, read from its PKCS#8 PEM by a small DER walk. The keys kept are the ones `build_verifier`
keeps (`KeyMaterial.verification_keys`: not retired, or retired less than a token lifetime ago).

Only the plain case is handled here: an existing, readable file (or a secret read without boto3 where
`signed_calls` can: credentials and region in the environment, as Lambda sets them) whose current key
is RS256 and whose every record parses. Anything else (no file yet, another algorithm, a
damaged record, a failed read of the secret) returns None, and the authorizer takes the general path
(`load_key_material` + `build_verifier`), which creates a missing file, reads or reports the problem as
before.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from twostep.aws.authorizer_settings import AuthorizerSettings
from twostep.domain.clock import Clock
from twostep.domain.cold_start_typing import TYPE_CHECKING
from twostep.domain.rs256_verifier import ALGORITHM, Rs256TokenVerifier
from twostep.domain.rsa_pkcs1 import RsaPublicKey, public_key_from_pkcs8_pem, public_key_from_spki_pem

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

    from twostep.aws.signed_calls import SignedClient


SEALED_FORMAT = "twostep-sealed-v1"  # as `secrets.aws_sealed` writes it (not imported: it needs boto3)

# One key record as the refresh needs it: its kid, its public key, and when it was retired (None: not).
KeyRecord = tuple[str, RsaPublicKey, datetime | None]


def parse_records(text: str) -> tuple[KeyRecord, ...] | None:
    """Every record of a key file's text, or None if it is not the plain RS256 case.

    A secret sealed by KMS (`secrets/aws_sealed.py`) holds public records (`public_pem`) beside its
    sealed part, which is never looked at here; a plain one holds the private keys (`private_pem`)."""
    try:
        data = json.loads(text)
        records = data["signing_keys"]
        whole = "otp_hmac_key" in data or data.get("format") == SEALED_FORMAT
        if not records or not whole or records[0]["alg"] != ALGORITHM:
            return None
        parsed: list[KeyRecord] = []
        for record in records:
            if record["alg"] != ALGORITHM:
                return None  # a mixed file: leave it to the general path
            datetime.fromisoformat(record["created_at"])  # every record must parse, as `from_json` needs
            retired = record.get("retired_at")
            retired_at = datetime.fromisoformat(retired) if retired else None
            parsed.append((record["kid"], _public_key(record), retired_at))
        return tuple(parsed)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return None


def _public_key(record: dict[str, str]) -> RsaPublicKey:
    if "private_pem" in record:
        return public_key_from_pkcs8_pem(record["private_pem"])
    return public_key_from_spki_pem(record["public_pem"])


def kept_keys(
    records: tuple[KeyRecord, ...], now: datetime, max_token_age: timedelta
) -> dict[str, RsaPublicKey]:
    """The verification keys at `now`: not retired, or retired less than a token lifetime ago."""
    return {
        kid: public
        for kid, public, retired_at in records
        if retired_at is None or retired_at + max_token_age > now
    }


def key_ends(records: tuple[KeyRecord, ...], max_token_age: timedelta) -> dict[str, float]:
    """When each retired key stops verifying (epoch seconds), as `KeyMaterial.verification_ends`."""
    return {
        kid: (retired_at + max_token_age).timestamp()
        for kid, _, retired_at in records
        if retired_at is not None
    }


def rs256_keys(text: str, now: datetime, max_token_age: timedelta) -> dict[str, RsaPublicKey] | None:
    """The verification keys of a key file's text, or None if it is not the plain RS256 case."""
    records = parse_records(text)
    return None if records is None else kept_keys(records, now, max_token_age)


class LastRead:
    """The key file's (or the secret's) text at the last refresh and its parsed records.

    A warm authorizer reads the file or the secret every refresh (a small read) but parses it again only
    when its text changed; the same `RsaPublicKey` objects are then kept, with the OpenSSL key each
    already built, so a refresh costs no DER walk and no check in pure Python. Which keys are kept is
    still decided anew each time: a retired key ages out without the file changing.
    """

    def __init__(self) -> None:
        self._read: tuple[Hashable, str] | None = None
        self._records: tuple[KeyRecord, ...] | None = None

    def records(self, source: Hashable, text: str) -> tuple[KeyRecord, ...] | None:
        """The records of `text`, read from `source` (the file's path, or the secret's ARN)."""
        if self._read != (source, text):
            self._read, self._records = (source, text), parse_records(text)
        return self._records


_last_read = LastRead()  # per Lambda container, like the verifier it feeds


def rs256_verifier_from_file(settings: AuthorizerSettings, clock: Clock) -> Rs256TokenVerifier | None:
    """The verifier for a plain RS256 key file, or None (see the module docstring)."""
    if settings.jwt_algorithm != ALGORITHM or settings.secret_arn:
        return None
    try:
        with open(settings.jwt_key_file_name, encoding="utf-8") as file:  # no pathlib: see the settings
            text = file.read()
    except (OSError, ValueError):
        return None
    return _verifier_of(_last_read.records(settings.jwt_key_file_name, text), settings, clock)


def rs256_verifier_from_secret(
    settings: AuthorizerSettings, clock: Clock, secrets_client: Callable[[], SignedClient | None]
) -> Rs256TokenVerifier | None:
    """The verifier for a plain RS256 secret read without boto3, through `secrets_client()` (None where
    boto3 must read it), or None (see the module docstring)."""
    if settings.jwt_algorithm != ALGORITHM or not settings.secret_arn:
        return None
    from twostep.aws.signed_calls import AwsCallFailed

    client = secrets_client()
    if client is None:
        return None
    try:
        text = client.call("GetSecretValue", {"SecretId": settings.secret_arn}).get("SecretString")
    except AwsCallFailed as exc:
        # boto3 reads it again (with its own retries) and reports an outage as the authorizer always has.
        import logging

        logging.getLogger("twostep.authorizer").warning("keys read through boto3: %s", exc)
        return None
    if not isinstance(text, str):
        return None
    return _verifier_of(_last_read.records(settings.secret_arn, text), settings, clock)


def _verifier_of(
    records: tuple[KeyRecord, ...] | None, settings: AuthorizerSettings, clock: Clock
) -> Rs256TokenVerifier | None:
    if records is None:
        return None
    max_age = timedelta(seconds=settings.access_token_ttl_seconds + settings.jwt_leeway_seconds)
    return Rs256TokenVerifier(
        keys=kept_keys(records, clock.now(), max_age),
        issuer=settings.issuer,
        audience=settings.audience,
        leeway_seconds=settings.jwt_leeway_seconds,
        clock=clock,
        key_ends=key_ends(records, max_age),
    )

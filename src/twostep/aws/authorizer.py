"""API Gateway Lambda authorizer: REST TOKEN and REQUEST (IAM policy) and HTTP API v2 simple responses.

Imports only its settings (read without pydantic), the key source and the token verifier (no web framework, password hasher or
storage) so a cold start stays small; the verifier is built once per container.

- REST: a valid token gets `Allow` with `principalId` = the user id and a string-only context
  (`sub`, `email`, `amr`). The policy's Resource is every method of the API stage (`<api>/<stage>/*`)
  rather than the one methodArn: API Gateway caches the policy per token, and a policy naming only the
  first route would deny the user's next call to another protected route while the cache lives.
  A missing or invalid token raises `Exception("Unauthorized")`, which API Gateway answers with 401.
- HTTP API (`version` "2.0"): `{"isAuthorized": true|false, "context": {...}}` (false gives 403).
- The token comes from `authorizationToken` (TOKEN) or the `Authorization` header in any letter case
  (REQUEST, HTTP API), as `Bearer <jwt>` or a raw `<jwt>`.

A token of an ended session (its `sid` on the revocation list, read from storage at most every
`TWOSTEP_AUTHORIZER_REVOCATION_TTL_SECONDS`) is denied, and so is a one-factor session while
`TWOSTEP_REQUIRE_SECOND_FACTOR` is on. The list is read lazily, on the first token that needs it.

It fails closed: any error while checking a token denies. If the keys or the revocation list cannot be
loaded at all, the handler raises a different error, which API Gateway turns into a 500 rather than
telling a client that its token is bad.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from twostep.aws.lazy import BuiltOnce
from twostep.domain.clock import Clock, SystemClock
from twostep.domain.cold_start_typing import TYPE_CHECKING, NamedTuple, Protocol
from twostep.domain.errors import StorageUnavailable, UnknownSigningKey
from twostep.domain.revocation import RevocationList
from twostep.domain.tokens import AccessClaims, extract_bearer, has_second_factor

if TYPE_CHECKING:
    from typing import Any

    from twostep.aws.authorizer_settings import AuthorizerSettings
    from twostep.aws.signed_calls import SignedClient


def _log_error(message: str, cause: Exception) -> None:
    """`logging` is imported only when there is something to log (it is a noticeable part of a cold start)."""
    import logging

    logging.getLogger("twostep.authorizer").error(message, type(cause).__name__)


UNAUTHORIZED = "Unauthorized"
# The key set is read again this often, so a rotated key is known long before it signs (its activation
# delay is at least this long): one GetSecretValue a minute per warm container.
KEYS_REFRESH_SECONDS = 60.0
# A token of a key the verifier does not know makes it read the keys again, at most this often: after a
# rotation without activation delay (a leaked key) another container may already sign with the new key.
# Not more often: each read is a GetSecretValue, and made-up key ids are free to send.
UNKNOWN_KEY_REREAD_SECONDS = 5.0


class AccessTokenVerifier(Protocol):
    def verify(self, token: str) -> AccessClaims:
        """Raises: InvalidToken."""
        ...


class AuthorizerUnavailable(RuntimeError):
    """The authorizer could not load its keys; API Gateway answers 500."""


class SessionChecks(NamedTuple):
    revocations: RevocationList
    require_second_factor: bool


# The clock the checks use; tests replace it to step past the revocation TTL without waiting.
clock: Clock = SystemClock()


def _read_settings() -> AuthorizerSettings:
    from twostep.aws.authorizer_settings import AuthorizerSettings

    return AuthorizerSettings.from_environ()


def _build_verifier() -> AccessTokenVerifier:
    """RS256 from a key file or a secret: checked without PyJWT, `cryptography` or boto3 at cold start
    (`authorizer_keys`); everything else as the API checks tokens (PyJWT), keys from `load_key_material`."""
    from twostep.aws.authorizer_keys import rs256_verifier_from_file, rs256_verifier_from_secret

    try:
        settings = _settings.get()
        fast = rs256_verifier_from_file(settings, clock) or rs256_verifier_from_secret(
            settings, clock, _secrets_client.get
        )
        if fast is not None:
            return fast
        from twostep.secrets import load_key_material
        from twostep.verifier_factory import build_verifier

        if settings.secret_arn:
            from twostep.secrets.aws import clear_cache

            clear_cache()  # a refresh must see a rotation
        # Only the public keys of a sealed secret: the authorizer may not (and need not) open its private part.
        return build_verifier(settings, load_key_material(settings, clock, public_only=True), clock)
    except Exception as exc:
        _log_error("authorizer keys unavailable: %s", exc)
        raise AuthorizerUnavailable("the authorizer could not load its keys") from exc


def _build_session_checks() -> SessionChecks:
    """Settings only: the revocation list reads storage lazily, on the first token it is asked about."""
    from twostep.aws.authorizer_revocations import authorizer_revocations

    try:
        settings = _settings.get()
        return SessionChecks(authorizer_revocations(settings, clock), settings.require_second_factor)
    except Exception as exc:
        _log_error("authorizer settings unusable: %s", exc)
        raise AuthorizerUnavailable("the authorizer could not read its settings") from exc


def _build_secrets_client() -> SignedClient | None:
    from twostep.aws.signed_calls import SECRETS_MANAGER, signed_client

    return signed_client(SECRETS_MANAGER)


_settings = BuiltOnce(_read_settings)  # read once per container (both builders need them)
_secrets_client = BuiltOnce(_build_secrets_client)  # every key refresh reads through its kept connection
_verifier = BuiltOnce(_build_verifier)
_session_checks = BuiltOnce(_build_session_checks)  # built once: the list keeps its own freshness


def get_verifier() -> AccessTokenVerifier:
    """The container's verifier, built on first use from `Settings()` and the configured key source, and
    again every `KEYS_REFRESH_SECONDS`."""
    return _verifier.get(KEYS_REFRESH_SECONDS)


def reset() -> None:
    """Forget the verifier and the revocation list (tests, or new settings in the same process)."""
    _settings.reset()
    _secrets_client.reset()
    _verifier.reset()
    _session_checks.reset()


def header_value(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """A header by name in any letter case."""
    wanted = name.lower()
    for key, value in (headers or {}).items():
        if isinstance(key, str) and key.lower() == wanted and isinstance(value, str):
            return value
    return None


def token_from(event: Mapping[str, Any]) -> str | None:
    """The raw JWT from a TOKEN, REQUEST or HTTP API v2 authorizer event."""
    if event.get("type") == "TOKEN":
        raw = event.get("authorizationToken")
        return extract_bearer(raw if isinstance(raw, str) else None)
    return extract_bearer(header_value(event.get("headers"), "authorization"))


def stage_resource(method_arn: str) -> str:
    """`arn:…:<api>/<stage>/GET/hello` -> `arn:…:<api>/<stage>/*` (every route of the stage)."""
    parts = method_arn.split("/")
    if len(parts) < 2 or not parts[0].startswith("arn:"):
        return method_arn
    return f"{parts[0]}/{parts[1]}/*"


def _claims_or_none(event: Mapping[str, Any]) -> AccessClaims | None:
    token = token_from(event)
    if token is None:
        return None
    checks = _session_checks.get()
    reading = _read_list_ahead(checks.revocations)
    try:
        return _checked_claims(token, checks)
    finally:
        if reading is not None:
            reading.join()  # a read left running would be frozen with the container between events


def _read_list_ahead(revocations: RevocationList) -> threading.Thread | None:
    """When the keys and the revocation list are both due for a read (a cold start), the list is read on
    a thread while this one reads the keys: two network round trips at once instead of one after the
    other. A failed read is left to the check that needs the list, which reads again and fails closed.
    Not with a zero TTL: the check reads the list itself anyway, and a read ahead would be a second one."""
    if revocations.read_by_every_check or not (revocations.due() and _verifier.due(KEYS_REFRESH_SECONDS)):
        return None
    reading = threading.Thread(target=_refresh_quietly, args=(revocations,), daemon=True)
    reading.start()
    return reading


def _refresh_quietly(revocations: RevocationList) -> None:
    """The list logs a failed read; the check that needs the list reads again and raises it."""
    try:  # noqa: SIM105 - not contextlib.suppress: contextlib is not otherwise loaded by a cold start
        revocations.refresh()
    except Exception:  # noqa: S110
        pass


def _checked_claims(token: str, checks: SessionChecks) -> AccessClaims | None:
    claims = _verified(token)
    if claims is None:
        return None
    if checks.require_second_factor and not has_second_factor(claims.amr):
        return None
    try:
        revoked = checks.revocations.is_revoked(claims.sid)
    except StorageUnavailable as exc:
        raise AuthorizerUnavailable("the revocation list could not be read") from exc
    return None if revoked else claims


def _verified(token: str) -> AccessClaims | None:
    verifier = get_verifier()  # AuthorizerUnavailable propagates: a 500, never an Allow
    try:
        return verifier.verify(token)
    except UnknownSigningKey:
        pass  # perhaps a key rotated in moments ago: read the keys again (below)
    except Exception:  # any failure to check the token denies
        return None
    try:  # a failed read keeps the verifier built before, which refuses the token again
        return _verifier.get(UNKNOWN_KEY_REREAD_SECONDS).verify(token)
    except Exception:
        return None


def _context(claims: AccessClaims) -> dict[str, str]:
    return {"sub": claims.sub, "email": claims.email, "amr": " ".join(claims.amr)}


def _policy(claims: AccessClaims, method_arn: str) -> dict[str, Any]:
    return {
        "principalId": claims.sub,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": stage_resource(method_arn)}
            ],
        },
        "context": _context(claims),
    }


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    """The Lambda entry point.

    Raises:
        Exception: "Unauthorized" for a REST request without a valid token (API Gateway's 401).
        AuthorizerUnavailable: the keys could not be loaded (API Gateway's 500).
    """
    claims = _claims_or_none(event) if isinstance(event, Mapping) else None
    if isinstance(event, Mapping) and event.get("version") == "2.0":
        if claims is None:
            return {"isAuthorized": False}
        return {"isAuthorized": True, "context": _context(claims)}
    method_arn = event.get("methodArn") if isinstance(event, Mapping) else None
    if claims is None or not isinstance(method_arn, str):
        raise Exception(UNAUTHORIZED)  # API Gateway matches this exact message
    return _policy(claims, method_arn)

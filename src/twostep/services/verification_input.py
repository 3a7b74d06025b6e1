"""Checks of what callers send to the verification API, and the code spec built from it within bounds."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from twostep.domain.errors import InvalidInput
from twostep.services.challenges import CodeSpec

LENGTH_RANGE = (4, 10)
MIN_TTL_SECONDS = 30
RETRIES_RANGE = (1, 10)
MAX_AUTH_ID_CHARS = 120
MAX_MESSAGE_CHARS = 320


@dataclass(frozen=True, slots=True)
class VerifyPolicy:
    """Defaults and upper bounds for per-request values (from `TWOSTEP_VERIFY_*`)."""

    default_length: int
    default_ttl_seconds: int
    max_ttl_seconds: int
    default_retries: int
    template: str


def verification_id(auth_id: str) -> str:
    """The challenge id for an `auth_id`: fixed length, no caller-controlled characters."""
    return "v:" + hashlib.sha256(auth_id.encode()).hexdigest()


def checked_auth_id(auth_id: str) -> str:
    """Raises: InvalidInput naming `auth_id`."""
    if not 1 <= len(auth_id) <= MAX_AUTH_ID_CHARS or not auth_id.isprintable():
        raise InvalidInput(f"auth_id must be 1 to {MAX_AUTH_ID_CHARS} printable characters.", field="auth_id")
    return auth_id


def checked_code(code: str) -> int:
    """The submitted code as a number (Flowroute sms-verification compares numbers; it is left-padded to the code length).

    Raises: InvalidInput naming `code`.
    """
    text = code.strip()
    if not text.isascii() or not text.isdigit() or not 1 <= len(text) <= LENGTH_RANGE[1]:
        raise InvalidInput("code must be 1 to 10 digits.", field="code")
    return int(text)


def _bounded(value: int | None, default: int, low: int, high: int, field: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(f"{field} must be between {low} and {high}.", field=field)
    return value


def _checked_message(message: str | None, default: str) -> str:
    if message is None:
        return default
    if "{code}" not in message:
        raise InvalidInput("message must contain {code}.", field="message")
    if len(message) > MAX_MESSAGE_CHARS or any(ord(ch) < 32 and ch not in "\n\r" for ch in message):
        raise InvalidInput(
            f"message must be at most {MAX_MESSAGE_CHARS} characters without control characters.",
            field="message",
        )
    return message


def code_spec(
    policy: VerifyPolicy,
    code_length: int | None = None,
    expiration: int | None = None,
    retries: int | None = None,
    message: str | None = None,
) -> CodeSpec:
    """Per-request values within the configured bounds; None takes the default.

    Raises: InvalidInput naming the field (`code_length`, `expiration`, `retries`, `message`).
    """
    p = policy
    return CodeSpec(
        length=_bounded(code_length, p.default_length, *LENGTH_RANGE, "code_length"),
        ttl_seconds=_bounded(
            expiration, p.default_ttl_seconds, MIN_TTL_SECONDS, p.max_ttl_seconds, "expiration"
        ),
        max_attempts=_bounded(retries, p.default_retries, *RETRIES_RANGE, "retries"),
        template=_checked_message(message, p.template),
    )

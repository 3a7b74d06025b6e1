"""Checks of what callers send to the verification API, and the code spec built from it within bounds."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

from twostep.domain.errors import InvalidInput, MessageNotAllowed
from twostep.domain.models import Tenant
from twostep.domain.otp import ascii_digits, render_message
from twostep.domain.texts import TextKind
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
    text: TextKind | None = None  # the bundled text used while `template` is the default one
    org: str = "twostep"  # TWOSTEP_ORG_NAME, what `{org}` becomes: a request's text is checked as sent


@functools.cache
def url_pattern() -> re.Pattern[str]:
    """A scheme (`https://`, `sms:`), `www.`, or a dotted host with a top-level domain: what a phishing text
    needs to lead somewhere. Deliberately broad: a tenant that needs links is allowed them explicitly.
    Labels and top-level domains are letters of any script, since phones link internationalised hosts
    (`münchen.de`, or a Latin-looking name with a Cyrillic letter in it); a full-width full stop separates labels as `.` does
    (IDNA maps it to one). A bare IPv4 address counts too: Android links `203.0.113.7/login` as it is.
    Compiled on first use: ~1 ms of a Lambda cold start that never checks a message."""
    dot = "[.\uff0e]"
    return re.compile(
        rf"(?i)\b[^\W\d_][\w+.-]*://|\bwww{dot}|\b[\w-]+(?:{dot}[\w-]+)*{dot}[^\W\d_]{{2,}}(?:[/:?#]|\b)"
        rf"|\b[0-9]{{1,3}}(?:{dot}[0-9]{{1,3}}){{3}}\b"
    )


def verification_id(auth_id: str, tenant: Tenant | None = None) -> str:
    """The challenge id for an `auth_id` of a tenant: fixed length, no caller-controlled characters.

    Each tenant has its own namespace; calls without a tenant (the keyless dev mode) keep the plain one.
    """
    scoped = auth_id if tenant is None else f"{tenant.name}\x00{auth_id}"
    return "v:" + hashlib.sha256(scoped.encode()).hexdigest()


def checked_auth_id(auth_id: str) -> str:
    """Raises: InvalidInput naming `auth_id`."""
    if not 1 <= len(auth_id) <= MAX_AUTH_ID_CHARS or not auth_id.isprintable():
        raise InvalidInput(f"auth_id must be 1 to {MAX_AUTH_ID_CHARS} printable characters.", field="auth_id")
    return auth_id


def checked_code(code: str) -> int:
    """The submitted code as a number (Flowroute sms-verification compares numbers; it is left-padded to the code length).

    Decimal digits of any script count, as its `int()` read them, folded as every code check folds them
    (`ascii_digits`, shared with the sign-in's codes).

    Raises: InvalidInput naming `code`.
    """
    text = ascii_digits(code.strip())
    if not text.isascii() or not text.isdigit() or not 1 <= len(text) <= LENGTH_RANGE[1]:
        raise InvalidInput("code must be 1 to 10 digits.", field="code")
    return int(text)


def _bounded(value: int | None, default: int, low: int, high: int, field: str) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not low <= value <= high:
        raise InvalidInput(f"{field} must be between {low} and {high}.", field=field)
    return value


def _checked_message(message: str | None, default: str, tenant: Tenant | None) -> str:
    if message is None:
        return default
    if tenant is not None and not tenant.allow_message:
        raise MessageNotAllowed(field="message")
    if tenant is not None and not tenant.allow_urls and url_pattern().search(message):
        raise MessageNotAllowed("message may not contain a link or web address.", field="message")
    if "{code}" not in message:
        raise InvalidInput("message must contain {code}.", field="message")
    if len(message) > MAX_MESSAGE_CHARS or any(ord(ch) < 32 and ch not in "\n\r" for ch in message):
        raise InvalidInput(
            f"message must be at most {MAX_MESSAGE_CHARS} characters without control characters.",
            field="message",
        )
    return message


def check_sent_text(spec: CodeSpec, policy: VerifyPolicy, tenant: Tenant | None) -> None:
    """Check a request's own text for links as it will be sent, every placeholder filled in.

    The template alone is not enough: a placeholder can complete a host name (`evil{minutes}.com`,
    `{payee}.com`) that only appears once it is filled. Any code of the spec's length does: digits are
    interchangeable for the link pattern. The WebOTP and app-hash lines are the operator's, left out.

    Raises: MessageNotAllowed naming `message`.
    """
    if tenant is None or tenant.allow_urls:
        return
    sample = render_message(
        spec.template, code="0" * spec.length, org=policy.org, ttl_seconds=spec.ttl_seconds, web_origin=None
    )
    if url_pattern().search(sample):
        raise MessageNotAllowed("message may not contain a link or web address.", field="message")


def code_spec(
    policy: VerifyPolicy,
    code_length: int | None = None,
    expiration: int | None = None,
    retries: int | None = None,
    message: str | None = None,
    tenant: Tenant | None = None,
) -> CodeSpec:
    """Per-request values within the configured bounds; None takes the default (the tenant's template).

    Raises: InvalidInput naming the field (`code_length`, `expiration`, `retries`, `message`);
        MessageNotAllowed for a text the tenant may not send.
    """
    p = policy
    template = tenant.template if tenant is not None and tenant.template else p.template
    return CodeSpec(
        length=_bounded(code_length, p.default_length, *LENGTH_RANGE, "code_length"),
        ttl_seconds=_bounded(
            expiration, p.default_ttl_seconds, MIN_TTL_SECONDS, p.max_ttl_seconds, "expiration"
        ),
        max_attempts=_bounded(retries, p.default_retries, *RETRIES_RANGE, "retries"),
        template=_checked_message(message, template, tenant),
        # the bundled text in the reader's language, unless a tenant's or the request's own text is used
        text=p.text if message is None and template is p.template else None,
    )

"""Records that services pass to and from storage: plain frozen dataclasses, no framework types."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Literal, TypeVar

from twostep.domain.identity import E164
from twostep.domain.password_spelling import unmarked

# Defined beside the revocation list, so the authorizer reads the list without loading these models.
from twostep.domain.revocation import Revocation as Revocation  # noqa: PLC0414 (a re-export)

T = TypeVar("T")

ChallengePurpose = Literal[
    "login", "verify", "reset", "phone_change", "email_change", "email_verify", "email_claim"
]


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    password_hash: str
    created_at: datetime
    first_name: str | None = None
    last_name: str | None = None
    phone: E164 | None = None
    # Proof before ownership: a number or address is the account's only once a code sent to it came back.
    phone_verified: bool = False
    email_verified: bool = False
    locale: str | None = None  # the language the account wants its texts in (a BCP 47 tag); None: none

    @property
    def credentials(self) -> tuple[str, str | None, str]:
        """What a change of ends the account's sessions and its unfinished sign-ins and resets: the
        password hash, the phone number and the email address (in this order)."""
        return self.password_hash, self.phone, self.email

    @property
    def credentials_tag(self) -> str:
        """A digest of `credentials`, kept with each sign-in and password reset begun under them: once one
        changed, such a flow cannot be finished (`services/unchanged_credentials.py`).

        The hash is taken without its NFKC mark: a sign-in that only marks an old hash (the same hash, the
        same password) changes no credential, and must not end the account's reset or change in flight."""
        password_hash, phone, email = self.credentials
        text = "\x00".join(part or "" for part in (unmarked(password_hash)[0], phone, email))
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class EmailCollision:
    """Two accounts whose stored addresses are one canonical address (0.1.0 stored `ada@münchen.de` and
    a later sign-up `ada@xn--mnchen-3ya.de`): never merged, so the upgrade leaves them for the operator."""

    canonical: str
    holder_id: str  # the account with the canonical address (the older one, or the only canonical one)
    left_id: str  # the account left with its older spelling, which no lookup finds


@dataclass(frozen=True, slots=True)
class Challenge:
    """One code sent for one login (or one verification id); used at most once.

    `attempts` counts every check, right or wrong, and only grows. A resend replaces `code_hmac` and
    `expires_at` but keeps `attempts`, so the failure budget survives it.
    """

    id: str
    purpose: ChallengePurpose
    subject: str  # user id for logins and account changes, auth_id for verifications
    phone: E164
    code_hmac: str
    created_at: datetime
    expires_at: datetime
    max_attempts: int
    attempts: int = 0
    consumed_at: datetime | None = None
    sends: int = 1
    last_sent_at: datetime | None = None
    code_length: int = 6
    email: str | None = None  # the address the code went to, for codes sent by email (phone is then "")
    # How the current code went (`sms`, `voice`, `whatsapp`, `email`): the `amr` of a sign-in with it.
    channel: str = "sms"
    # A login's, a sent reset code's or an account change's (new number or address, proving the address):
    # the account's `User.credentials_tag` when it began (None: a verification, a reset's placeholder, or
    # one stored before tags were kept).
    credentials_tag: str | None = None

    @property
    def attempts_remaining(self) -> int:
        return max(0, self.max_attempts - self.attempts)

    def open_at(self, now: datetime) -> bool:
        """Whether it can still take a code at `now`: not used, not expired, attempts left."""
        return self.consumed_at is None and self.expires_at > now and self.attempts < self.max_attempts


@dataclass(frozen=True, slots=True)
class CodeUse:
    """A right code's use of its challenge, written with what the code opens (`add_session_counted`):
    the challenge is consumed (its attempt counted) only while it is unconsumed, unexpired, under its
    attempt budget and still holds the code as read, `code_hmac` sent by `channel` (a resend by
    another channel may keep a fixed test code, and the channel names the sign-in's method)."""

    challenge_id: str
    code_hmac: str
    channel: str
    at: datetime


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """A stored refresh token: only its hash is kept. Tokens of one sign-in share a `family_id`."""

    token_hash: str
    family_id: str
    user_id: str
    created_at: datetime
    expires_at: datetime
    family_expires_at: datetime
    amr: tuple[str, ...] = ("pwd", "sms")
    used_at: datetime | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Session:
    """One sign-in (the refresh-token family `id`), with what its owner can recognise it by.

    `client` is a short description made from the User-Agent and `ip` a truncated address (a /24 or
    a /48): enough to tell "my phone" from "not me", not enough to track anyone.
    """

    id: str
    user_id: str
    created_at: datetime
    expires_at: datetime
    auth_time: datetime
    amr: tuple[str, ...]
    last_used_at: datetime
    client: str | None = None
    ip: str | None = None
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    user_id: str
    author: str
    content: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """A message the console sender kept for local reading (dev only)."""

    to: str
    body: str
    sent_at: datetime
    provider: str = "console"
    channel: str = "sms"  # the console carries every channel; `email` for the console email sender


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """An append-only record of a security-relevant event, with personal data minimised."""

    event: str
    at: datetime
    user_id: str | None = None
    email_hash: str | None = None
    phone_masked: str | None = None
    ip: str | None = None
    request_id: str | None = None
    detail: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None = None


# A tenant's name: in `TWOSTEP_VERIFY_API_KEYS`, the keys file and the secret alike (it also names the
# tenant's counters and idempotency scope).
TENANT_NAME = re.compile(r"[A-Za-z0-9_-]{1,40}")


@dataclass(frozen=True, slots=True)
class Tenant:
    """A caller of the verification API, named by its API key: its own `auth_id`s, text and limits."""

    name: str
    template: str | None = None  # None: TWOSTEP_VERIFY_TEMPLATE
    sms_per_hour: int = 1000
    sms_per_day: int = 10000
    allow_message: bool = False  # may a request bring its own text (with {code})?
    allow_urls: bool = False  # may that text contain a link?


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who is asking, as far as the edge could tell; used for limits and the audit trail.

    `tenant` is set for verification API calls with a valid API key: its limits replace the caller IP's.
    """

    ip: str | None = None
    request_id: str | None = None
    user_agent: str | None = None
    tenant: Tenant | None = None
    locales: tuple[str, ...] = ()  # the languages the request asks texts in, best first (body, then header)


NO_CONTEXT = RequestContext()

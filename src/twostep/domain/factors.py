"""Records of the second factors beyond SMS: authenticator apps (TOTP), recovery codes, passkeys and
remembered devices. Plain frozen dataclasses, like `models.py`; secrets appear only sealed or hashed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Factor = Literal["sms", "totp", "recovery", "passkey"]
CeremonyPurpose = Literal["register", "authenticate", "second_factor"]


@dataclass(frozen=True, slots=True)
class TotpFactor:
    """One authenticator app per user.

    `secret_sealed` is the enabled secret, `pending_sealed` one being enrolled (not yet confirmed by a
    code); both are AES-GCM sealed, never plain. `last_step` is the newest RFC 6238 time step accepted,
    so a code is good once: storage only ever moves it forward.
    """

    user_id: str
    created_at: datetime
    secret_sealed: str | None = None
    pending_sealed: str | None = None
    enabled_at: datetime | None = None
    last_step: int | None = None

    @property
    def enabled(self) -> bool:
        return self.secret_sealed is not None


@dataclass(frozen=True, slots=True)
class PasskeyCredential:
    """A WebAuthn public-key credential registered by a user (the private key never leaves the
    authenticator). `credential_id` is base64url; `sign_count` moves forward by compare-and-swap."""

    credential_id: str
    user_id: str
    public_key: bytes
    sign_count: int
    created_at: datetime
    name: str = "Passkey"
    backed_up: bool = False  # a synced ("multi-device") passkey: a software-held key (amr `swk`)
    transports: tuple[str, ...] = ()
    last_used_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Ceremony:
    """A WebAuthn challenge handed to the browser; taken (deleted) once, so an assertion never replays.

    `subject` is the user id when registering, the login challenge id for a second factor, empty for
    a passwordless sign-in (the credential names the user).
    """

    id: str
    purpose: CeremonyPurpose
    subject: str
    challenge: str  # base64url of the random bytes
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class RememberedDevice:
    """A browser or app that may skip the second factor until `expires_at`; only the token's hash is kept."""

    id: str
    user_id: str
    token_hash: str
    created_at: datetime
    expires_at: datetime
    label: str = ""

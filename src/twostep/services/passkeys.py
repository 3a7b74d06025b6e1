"""Passkeys (WebAuthn Level 3, via py_webauthn): registering one, and checking an assertion.

py_webauthn (with pyOpenSSL, pyasn1 and CBOR) is imported by the methods that use it, not with this module:
it was a sixth of the API Lambda's import work, paid on every cold start whether or not a passkey is used.

Each ceremony's challenge is stored and taken once, so an assertion cannot be replayed; the origin and
the relying-party id hash are checked by the library; the signature counter must grow (unless the
authenticator keeps none) and is moved by compare-and-swap, so two uses of one assertion or a cloned
authenticator cannot both pass; a credential id belongs to one account only.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from twostep.domain.clock import Clock
from twostep.domain.errors import TwoStepError
from twostep.domain.factor_errors import CeremonyExpired, PasskeyExists, PasskeyLimitReached, PasskeyRejected
from twostep.domain.factor_ports import CeremonyStore, PasskeyStore
from twostep.domain.factors import Ceremony, CeremonyPurpose, PasskeyCredential
from twostep.domain.models import NO_CONTEXT, RequestContext
from twostep.domain.ports import CounterStore, UserStore
from twostep.services.account_notices import AccountNotices
from twostep.services.audit import AuditService
from twostep.services.counting import HOUR, window_of
from twostep.services.last_factor import LastFactorGuard
from twostep.services.reauthentication import Reauthentication

CEREMONY_SECONDS = 300
MAX_NAME = 60
# A transport is a short lowercase token ("usb", "smart-card", "hybrid"); the storages keep them joined by
# commas, so anything else (a comma, a long string) is dropped rather than stored.
TRANSPORT = re.compile(r"[a-z0-9-]{1,20}")
MAX_TRANSPORTS = 8
# A finish naming a ceremony that is not (or no longer) this account's needs neither the password nor a
# live ceremony, so without a bound a token alone could write an audit record per request: an account's
# trail keeps this many such refusals an hour (each other refusal took an options call, behind the
# password and its rate).
GONE_AUDITS_PER_HOUR = 10

logger = logging.getLogger("twostep.passkeys")


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """Who the passkeys are for: the RP id (a domain) and the page origins allowed to use them."""

    id: str
    name: str
    origins: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Options:
    """A ceremony's id and the `publicKey` options for `navigator.credentials` (WebAuthn JSON)."""

    ceremony_id: str
    public_key: str


@dataclass(frozen=True, slots=True)
class Assertion:
    credential: PasskeyCredential
    method: str  # RFC 8176: "swk" for a synced (backed-up) passkey, "hwk" for one bound to its device
    user_verified: bool


class PasskeyStorage(PasskeyStore, CeremonyStore, Protocol):
    """What this service stores."""


def _credential_id(credential: dict[str, Any]) -> str:
    raw = credential.get("rawId") or credential.get("id")
    if not isinstance(raw, str) or not 1 <= len(raw) <= 1400:
        raise PasskeyRejected()
    return raw.rstrip("=")


def _response(credential: dict[str, Any]) -> dict[str, Any]:
    response = credential.get("response")
    return response if isinstance(response, dict) else {}


def _transports(credential: dict[str, Any]) -> tuple[str, ...]:
    """The transports the browser reported, kept only as a list of short strings: they are hints for later
    sign-ins, and a client may send anything there (the library ignores what it cannot read)."""
    listed = _response(credential).get("transports")
    if not isinstance(listed, list):
        return ()
    tokens = (t for t in listed if isinstance(t, str) and TRANSPORT.fullmatch(t))
    return tuple(tokens)[:MAX_TRANSPORTS]


class PasskeyService:
    def __init__(
        self,
        *,
        store: PasskeyStorage,
        users: UserStore,
        reauth: Reauthentication,
        notices: AccountNotices,
        audit: AuditService,
        clock: Clock,
        limit: int,
        counters: CounterStore,
        last_factor: LastFactorGuard,
    ) -> None:
        self._store, self._users, self._audit, self._clock = store, users, audit, clock
        self._counters, self._last_factor = counters, last_factor
        self._reauth, self._notices = reauth, notices
        # Passkeys per account (TWOSTEP_PASSKEY_LIMIT): past it a registration is refused, never an old
        # passkey dropped, since each is a way in its owner counts on.
        self._limit = limit

    @property
    def limit(self) -> int:
        """Passkeys an account may hold (`TWOSTEP_PASSKEY_LIMIT`), so a page can say it is full before a
        registration is begun."""
        return self._limit

    def _ceremony(self, purpose: CeremonyPurpose, subject: str, challenge: bytes) -> str:
        from webauthn.helpers import bytes_to_base64url

        ceremony = Ceremony(
            id=str(uuid.uuid4()),
            purpose=purpose,
            subject=subject,
            challenge=bytes_to_base64url(challenge),
            expires_at=self._clock.now() + timedelta(seconds=CEREMONY_SECONDS),
        )
        self._store.put_ceremony(ceremony)
        return ceremony.id

    def _take(self, ceremony_id: str, purpose: CeremonyPurpose, subject: str) -> Ceremony:
        ceremony = self._store.take_ceremony(ceremony_id, self._clock.now())
        if ceremony is None or ceremony.purpose != purpose or ceremony.subject != subject:
            raise CeremonyExpired()
        return ceremony

    # --- registration (signed in) ---
    def registration_options(
        self, user_id: str, current_password: str, rp: RelyingParty, ctx: RequestContext = NO_CONTEXT
    ) -> Options:
        """Begin adding a passkey, after the current password: a passkey signs in without the password, so
        a stolen access token alone must not add one.

        Raises: InvalidToken (the user is gone), InvalidCredentials (the password is wrong), RateLimited,
        PasskeyLimitReached (before the authenticator is asked: its new key could not be stored)."""
        from webauthn import generate_registration_options, options_to_json
        from webauthn.helpers import base64url_to_bytes
        from webauthn.helpers.structs import (
            AuthenticatorSelectionCriteria,
            PublicKeyCredentialDescriptor,
            ResidentKeyRequirement,
            UserVerificationRequirement,
        )

        user = self._reauth.account(user_id, current_password, ctx, reason="reauth_passkey")
        existing = self._store.list_passkeys(user_id)
        if len(existing) >= self._limit:
            raise self._refused(user_id, PasskeyLimitReached(self._limit), "options", ctx)
        options = generate_registration_options(
            rp_id=rp.id,
            rp_name=rp.name,
            user_name=user.email,
            user_id=user.id.encode(),
            user_display_name=user.email,
            # discoverable, so the same passkey also signs in without a password
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=[
                PublicKeyCredentialDescriptor(id=base64url_to_bytes(c.credential_id)) for c in existing
            ],
        )
        ceremony_id = self._ceremony("register", user_id, options.challenge)
        return Options(ceremony_id, options_to_json(options))

    def register(
        self,
        user_id: str,
        ceremony_id: str,
        credential: dict[str, Any],
        name: str,
        rp: RelyingParty,
        ctx: RequestContext = NO_CONTEXT,
    ) -> PasskeyCredential:
        """Raises: CeremonyExpired, PasskeyRejected, PasskeyExists, PasskeyLimitReached (the account
        reached the limit since its options, by another registration finishing first); each audited as
        `passkey_registration_failed`."""
        try:
            passkey = self._verified_and_stored(user_id, ceremony_id, credential, name, rp)
        except CeremonyExpired as gone:
            if not self._gone_audited(user_id):
                raise gone from None
            raise self._refused(user_id, gone, "finish", ctx) from None
        except (PasskeyRejected, PasskeyExists, PasskeyLimitReached) as refusal:
            raise self._refused(user_id, refusal, "finish", ctx) from None
        self._audit.record("factor_enabled", ctx=ctx, user_id=user_id, factor="passkey")
        if (user := self._users.get_user(user_id)) is not None:
            self._notices.send(user, "sign_in_changed", ctx)
        return passkey

    def _refused(self, user_id: str, refusal: TwoStepError, step: str, ctx: RequestContext) -> TwoStepError:
        """`refusal`, audited: a passkey someone tried to add to this account and could not is part of its
        story (the limit reached, a forged or replayed answer, another account's key)."""
        self._audit.record(
            "passkey_registration_failed", ctx=ctx, user_id=user_id, reason=refusal.code, step=step
        )
        return refusal

    def _gone_audited(self, user_id: str) -> bool:
        """Whether this finish with a gone ceremony still goes in the trail (`GONE_AUDITS_PER_HOUR`); the
        one after the last is logged once, so the silence is seen."""
        now = self._clock.now()
        start, end = window_of(now, HOUR)
        count = self._counters.increment_counter(f"passkey-gone-audits:{user_id}@{start}", 1, now, end)
        if count == GONE_AUDITS_PER_HOUR + 1:
            logger.warning(
                "passkey_challenge_gone refusals no longer audited this hour", extra={"user_id": user_id}
            )
        return count <= GONE_AUDITS_PER_HOUR

    def _verified_and_stored(
        self, user_id: str, ceremony_id: str, credential: dict[str, Any], name: str, rp: RelyingParty
    ) -> PasskeyCredential:
        from webauthn import verify_registration_response
        from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
        from webauthn.helpers.exceptions import WebAuthnException

        ceremony = self._take(ceremony_id, "register", user_id)
        try:
            verified = verify_registration_response(
                credential=credential,
                expected_challenge=base64url_to_bytes(ceremony.challenge),
                expected_rp_id=rp.id,
                expected_origin=list(rp.origins),
            )
        except (WebAuthnException, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            raise PasskeyRejected() from exc
        passkey = PasskeyCredential(
            credential_id=bytes_to_base64url(verified.credential_id),
            user_id=user_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            created_at=self._clock.now(),
            name=" ".join(name.split())[:MAX_NAME] or "Passkey",
            backed_up=verified.credential_backed_up,
            transports=_transports(credential),
        )
        self._store.add_passkey(passkey, at_most=self._limit)
        return passkey

    def passkeys_of(self, user_id: str) -> list[PasskeyCredential]:
        return self._store.list_passkeys(user_id)

    def remove(
        self, user_id: str, credential_id: str, current_password: str, ctx: RequestContext = NO_CONTEXT
    ) -> bool:
        """After the current password; idempotent: afterwards the user has no such passkey; True when it
        had one until now.

        Raises: InvalidToken (the user is gone), InvalidCredentials (the password is wrong), RateLimited,
        LastSecondFactor (it is the only second factor of an account that must have one)."""
        user = self._reauth.account(user_id, current_password, ctx, reason="reauth_passkey_off")
        self._last_factor.allow_removing_passkey(user, credential_id)
        removed = self._store.delete_passkey(user_id, credential_id)
        if removed:
            self._audit.record("factor_removed", ctx=ctx, user_id=user_id, factor="passkey")
            self._notices.send(user, "sign_in_changed", ctx)
        return removed

    # --- authentication ---
    def authentication_options(
        self, purpose: CeremonyPurpose, subject: str, rp: RelyingParty, allow: list[PasskeyCredential]
    ) -> Options:
        """`allow` empty: any discoverable passkey of this RP (passwordless sign-in)."""
        from webauthn import generate_authentication_options, options_to_json
        from webauthn.helpers import base64url_to_bytes
        from webauthn.helpers.structs import PublicKeyCredentialDescriptor, UserVerificationRequirement

        options = generate_authentication_options(
            rp_id=rp.id,
            allow_credentials=[
                PublicKeyCredentialDescriptor(id=base64url_to_bytes(c.credential_id)) for c in allow
            ],
            user_verification=(
                UserVerificationRequirement.REQUIRED
                if purpose == "authenticate"
                else UserVerificationRequirement.PREFERRED
            ),
        )
        ceremony_id = self._ceremony(purpose, subject, options.challenge)
        return Options(ceremony_id, options_to_json(options))

    def verify(
        self,
        ceremony_id: str,
        credential: dict[str, Any],
        purpose: CeremonyPurpose,
        subject: str,
        rp: RelyingParty,
    ) -> Assertion:
        """Check an assertion and move the credential's counter.

        A passwordless sign-in (`authenticate`) requires user verification (PIN or biometric).
        Raises: CeremonyExpired, PasskeyRejected.
        """
        from webauthn import verify_authentication_response
        from webauthn.helpers import base64url_to_bytes
        from webauthn.helpers.exceptions import WebAuthnException

        ceremony = self._take(ceremony_id, purpose, subject)
        stored = self._store.get_passkey(_credential_id(credential))
        if stored is None:
            raise PasskeyRejected()
        self._check_user_handle(credential, stored)
        try:
            verified = verify_authentication_response(
                credential=credential,
                expected_challenge=base64url_to_bytes(ceremony.challenge),
                expected_rp_id=rp.id,
                expected_origin=list(rp.origins),
                credential_public_key=stored.public_key,
                credential_current_sign_count=stored.sign_count,
                require_user_verification=purpose == "authenticate",
            )
        except (WebAuthnException, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
            raise PasskeyRejected() from exc
        now = self._clock.now()
        if not self._store.record_passkey_use(
            stored.credential_id, stored.sign_count, verified.new_sign_count, now
        ):
            raise PasskeyRejected()  # another use of this credential got there first
        method = "swk" if verified.credential_backed_up else "hwk"
        return Assertion(stored, method, verified.user_verified)

    @staticmethod
    def _check_user_handle(credential: dict[str, Any], stored: PasskeyCredential) -> None:
        """A discoverable credential names its user; it must be the credential's owner. A handle that is
        not a string is a malformed assertion, refused like any other."""
        from webauthn.helpers import bytes_to_base64url

        handle = _response(credential).get("userHandle")
        if handle is None or handle == "":
            return  # a credential that is not discoverable names no user
        if not isinstance(handle, str) or handle.rstrip("=") != bytes_to_base64url(stored.user_id.encode()):
            raise PasskeyRejected()

"""Errors of the second factors; each subclasses an error whose HTTP status fits (see api/errors.py)."""

from __future__ import annotations

from twostep.domain.errors import (
    AccountExists,
    ChallengeGone,
    InvalidCredentials,
    InvalidInput,
    LimitReached,
    TwoStepError,
)


class PasskeyExists(AccountExists):
    code = "passkey_exists"
    default_message = "This passkey is already registered."


class PasskeyLimitReached(LimitReached):
    """The account has `TWOSTEP_PASSKEY_LIMIT` passkeys: a new one is refused, never one dropped for it
    (a passkey is a way in its owner may count on)."""

    code = "passkey_limit_reached"
    default_message = "This account has as many passkeys as it may; remove one to add another."

    def __init__(self, limit: int) -> None:
        # No count of the account's passkeys: with the limit lowered it may hold more than `limit`.
        noun = "passkey" if limit == 1 else "passkeys"
        super().__init__(
            f"An account may have at most {limit} {noun}, and this one has no room for another: remove one"
            " or more first.",
            limit=limit,
        )


class FactorUnavailable(InvalidInput):
    code = "factor_unavailable"
    default_message = "This account cannot use that sign-in factor."


class EnrolmentNotStarted(InvalidInput):
    code = "enrolment_not_started"
    default_message = "Start adding an authenticator app first."


class WrongEnrolmentCode(InvalidInput):
    code = "wrong_enrolment_code"
    default_message = (
        "That code does not match the authenticator app; check the device's clock and try again."
    )


class PasskeyRejected(InvalidCredentials):
    code = "passkey_rejected"
    default_message = "The passkey could not be verified."


class CeremonyExpired(ChallengeGone):
    code = "passkey_challenge_gone"
    default_message = "This passkey request has expired or was already used; start again."


class PasskeysNotConfigured(FactorUnavailable):
    code = "passkeys_not_configured"
    default_message = "Passkeys are not set up on this server (TWOSTEP_WEB_ORIGIN or TWOSTEP_WEBAUTHN_*)."


class LastSecondFactor(TwoStepError):
    """The factor is the account's only second factor while one is required (`TWOSTEP_REQUIRE_SECOND_FACTOR`):
    without it, every sign-in with the password would be refused, and nothing the owner could do alone
    would add one back."""

    code = "last_second_factor"
    default_message = (
        "This is the only second sign-in step this account has, and one is required: add a phone number,"
        " a passkey or an authenticator app before removing it."
    )

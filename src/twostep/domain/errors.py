"""One error hierarchy with stable codes; edges map codes to HTTP, CLI exit codes and authorizer Deny.

Errors carry no HTTP status: `api/errors.py` holds the one table from error class to status.
Messages are written for the person reading them and never contain a secret.
"""

from __future__ import annotations

from collections.abc import Mapping


class TwoStepError(Exception):
    """Root of every error twostep raises on purpose."""

    code = "error"
    default_message = "Something went wrong."

    def __init__(self, message: str | None = None, **details: object) -> None:
        self.message = message or self.default_message
        self.details: dict[str, object] = details
        super().__init__(self.message)


# --- input ---
class InvalidInput(TwoStepError):
    code = "invalid_input"
    default_message = "The request is not valid."

    def __init__(self, message: str | None = None, *, field: str | None = None, **details: object) -> None:
        if field is not None:
            details["field"] = field
        super().__init__(message, **details)
        self.field = field


class WeakPassword(InvalidInput):
    code = "weak_password"
    default_message = "Choose a different password."


class InvalidPhoneNumber(InvalidInput):
    code = "invalid_phone_number"
    default_message = "The phone number is not a valid number in international format."


class MessageNotAllowed(InvalidInput):
    code = "message_not_allowed"
    default_message = "This API key may not send its own message text."


class ChannelNotConfigured(InvalidInput):
    code = "channel_not_configured"
    default_message = "This channel is not configured on this service."

    def __init__(self, channel: str, configured: tuple[str, ...] | list[str] = ()) -> None:
        offered = ", ".join(configured) or "none"
        super().__init__(
            f"The {channel!r} channel is not configured on this service; configured: {offered}.",
            field="channel",
        )
        self.channel = channel


class AccountExists(TwoStepError):
    code = "account_exists"
    default_message = "An account with this email or phone number already exists."


class LimitReached(TwoStepError):
    """An account already holds as many of something as it may; one must go before another is added."""

    code = "limit_reached"
    default_message = "This account already has as many of these as it may; remove one first."


class NotFound(TwoStepError):
    code = "not_found"
    default_message = "Not found."


# --- authentication ---
class InvalidCredentials(TwoStepError):
    code = "invalid_credentials"
    default_message = "The email or password is wrong."


class SecondFactorRequired(TwoStepError):
    code = "second_factor_required"
    default_message = "This account needs a phone number for the second sign-in step."


class ChallengeNotFound(TwoStepError):
    code = "challenge_not_found"
    default_message = "No such code request."


class WrongCode(TwoStepError):
    code = "wrong_code"
    default_message = "The code is wrong."

    def __init__(self, attempts_remaining: int) -> None:
        super().__init__(None, attemptsRemaining=attempts_remaining)
        self.attempts_remaining = attempts_remaining


class ChallengeGone(TwoStepError):
    """Base for codes that can no longer be used: expired, used, or out of attempts."""

    code = "challenge_gone"
    default_message = "This code can no longer be used; request a new one."


class ChallengeExpired(ChallengeGone):
    code = "code_expired"
    default_message = "The code has expired; request a new one."


class ChallengeUsed(ChallengeGone):
    code = "code_used"
    default_message = "The code was already used."


class CodeBound(TwoStepError):
    """A transaction-bound code may be replaced only by a code bound to a transaction too (a fallback
    that does not know the transaction must not send an unbound one)."""

    code = "code_bound"
    default_message = "This code confirms a transaction; only a new request with the transaction replaces it."


class CredentialsChanged(ChallengeGone):
    """The account's password, number or address changed since this sign-in or reset began
    (`User.credentials_tag`)."""

    code = "credentials_changed"
    default_message = "The account's password, phone number or email changed since this began; start again."


class ChallengeExhausted(ChallengeGone):
    code = "code_attempts_exhausted"
    default_message = "Too many wrong codes; sign in again to get a new one."


class InvalidToken(TwoStepError):
    code = "invalid_token"
    default_message = "The token is missing, invalid or expired."


class UnknownSigningKey(InvalidToken):
    """A well-formed token naming a key this process does not know: answered like any invalid token, but
    worth one re-read of the key set, since another host may have learned of a rotation first."""


class RefreshTokenReused(InvalidToken):
    code = "refresh_token_reused"
    default_message = "This refresh token was already used; the session has been ended."


class SessionRevoked(InvalidToken):
    code = "session_revoked"
    default_message = "This session has ended; sign in again."


class SessionLacksSecondFactor(InvalidToken):
    """A session signed in with one factor while a second one is now required (refresh and APIs)."""

    code = "second_factor_required"
    default_message = "This session was signed in without a second factor; sign in again."


class Forbidden(TwoStepError):
    code = "forbidden"
    default_message = "Not allowed."


class ReauthenticationRequired(Forbidden):
    code = "reauthentication_required"
    default_message = "Sign in again to do this: your sign-in is too old."


class CurrentPasswordWrong(Forbidden):
    code = "invalid_current_password"
    default_message = "The current password is wrong."


class AccountLocked(Forbidden):
    code = "account_locked"
    default_message = "This account is locked; contact support."


class ApiKeyRequired(TwoStepError):
    code = "api_key_required"
    default_message = "A valid X-Api-Key header is required."


# --- limits ---
class RateLimited(TwoStepError):
    code = "rate_limited"
    default_message = "Too many requests; try again later."

    def __init__(
        self,
        limit: str,
        retry_after: int,
        message: str | None = None,
        *,
        quota: int | None = None,
        window: int | None = None,
    ) -> None:
        """`limit` is the limit's stable name; `quota` units are allowed per `window` seconds (None: the
        limit has no window, such as a lock an administrator lifts), for the RateLimit-Policy header."""
        retry_after = max(1, int(retry_after))
        super().__init__(message, limit=limit, retryAfter=retry_after)
        self.limit = limit
        self.retry_after = retry_after
        self.quota = quota
        self.window = window


class DestinationNotAllowed(TwoStepError):
    """A number codes are never sent to: outside the country allow-list, or not a mobile number."""

    code = "destination_not_allowed"
    default_message = "Codes cannot be sent to this number."


class DestinationBlocked(TwoStepError):
    """The fraud guard stopped sends to this number's prefix for a while (few codes there get used)."""

    code = "destination_blocked"
    default_message = "Codes cannot be sent to this number right now; try again later or contact support."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(message, retryAfter=retry_after)
        self.retry_after = retry_after


# --- dependencies ---
class DependencyUnavailable(TwoStepError):
    """A dependency failed; the operation was not done and nothing was half-written."""

    code = "dependency_unavailable"
    default_message = "A service twostep depends on is unavailable; try again shortly."


class StorageUnavailable(DependencyUnavailable):
    code = "storage_unavailable"
    default_message = "Storage is unavailable; try again shortly."


class CredentialsRefused(DependencyUnavailable):
    """Every provider of one kind refused twostep's credentials (readiness); `reason` names each
    provider and its answer (`twilio: HTTP 401`), never a credential."""

    code = "credentials_refused"

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class SmsCredentialsRefused(CredentialsRefused):
    """Every configured SMS provider refused twostep's credentials: no text can be sent."""

    code = "sms_credentials_refused"
    default_message = "Every SMS provider refused twostep's credentials; no text can be sent."


class EmailCredentialsRefused(CredentialsRefused):
    """The email provider refused twostep's credentials (SES keys, the SMTP login): no email can be sent."""

    code = "email_credentials_refused"
    default_message = "The email provider refused twostep's credentials; no email can be sent."


class SmsDeliveryError(DependencyUnavailable):
    """SMS could not be delivered; `reason` is one of REASONS.

    `retryable` is true only when sending again is safe: the request never reached the provider
    (connection failed) or the provider answered that it failed (5xx). A timeout after the request was
    sent is not retryable: the provider may have taken the message, and the person would get it twice.
    """

    code = "sms_delivery_failed"
    default_message = "The text message could not be sent; try again shortly."
    REASONS = (
        "timeout",
        "rejected_number",
        "auth",
        "sender_refused",  # credentials fine, but the sender (sipgate SMS id, From) is not ours to use
        "throttled",  # the provider asked us to slow down (429); `retry_after` says for how long
        "provider_error",
        "budget_exhausted",
    )

    def __init__(
        self,
        reason: str,
        provider: str = "",
        message: str | None = None,
        *,
        retryable: bool = False,
        retry_after: int | None = None,
        facts: Mapping[str, str | int | None] | None = None,
    ) -> None:
        super().__init__(message, reason=reason)
        self.reason = reason
        self.provider = provider
        self.retryable = retryable
        self.retry_after = retry_after
        # What the provider answered, safe to log (HTTP status, its error code, the error's type, a hint
        # for the operator): the failover's one log line of a failed send names them.
        self.facts: Mapping[str, str | int | None] = facts or {}


class SmsBudgetExhausted(DependencyUnavailable):
    """The money budget for text messages (global or for one country) is spent until its window ends."""

    code = "sms_budget_exhausted"
    default_message = "The service cannot send text messages right now; try again later."

    def __init__(self, budget: str, retry_after: int) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(None, budget=budget, retryAfter=retry_after)
        self.budget = budget
        self.retry_after = retry_after


class EmailDeliveryError(DependencyUnavailable):
    """An email could not be delivered; `reason` names why (timeout, rejected_address, auth,
    provider_error)."""

    code = "email_delivery_failed"
    default_message = "The email could not be sent; try again shortly."

    def __init__(self, reason: str, provider: str = "", message: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.reason = reason
        self.provider = provider


class SecretStoreUnavailable(DependencyUnavailable):
    code = "secret_store_unavailable"
    default_message = "The secret store is unavailable."


class ConfigurationError(TwoStepError):
    code = "configuration_error"
    default_message = "The configuration is not valid."

"""The signed-in user's own factors: add an authenticator app, recovery codes, and what is enrolled."""

from __future__ import annotations

from dataclasses import dataclass

from twostep.domain.clock import Clock
from twostep.domain.errors import InvalidToken
from twostep.domain.factor_errors import EnrolmentNotStarted, FactorUnavailable, WrongEnrolmentCode
from twostep.domain.factor_ports import FactorStorage
from twostep.domain.factors import PasskeyCredential
from twostep.domain.models import NO_CONTEXT, RequestContext, User
from twostep.domain.otp import ascii_digits
from twostep.domain.ports import UserStore
from twostep.domain.recovery import RecoveryCodeHasher, new_recovery_codes
from twostep.domain.totp import SecretSealer, matching_step, new_totp_secret, provisioning_uri
from twostep.services.account_notices import AccountNotices
from twostep.services.audit import AuditService
from twostep.services.last_factor import LastFactorGuard
from twostep.services.reauthentication import Reauthentication
from twostep.services.totp_enrolment import EnrolmentAttempts

LOW_RECOVERY_CODES = 2  # at or below this, responses warn the user to make new ones
ENROLMENT_ENDED = (
    "This authenticator app enrolment has ended (it expired, or too many codes were tried); start again."
)


@dataclass(frozen=True, slots=True)
class TotpEnrolment:
    """Shown once to the user: the secret and the URI an authenticator app scans."""

    secret: str
    uri: str


@dataclass(frozen=True, slots=True)
class RecoveryCodes:
    codes: tuple[str, ...]  # empty unless just generated (they are shown once)
    remaining: int

    @property
    def running_low(self) -> bool:
        return self.remaining <= LOW_RECOVERY_CODES


@dataclass(frozen=True, slots=True)
class FactorSummary:
    sms: bool
    totp: bool
    recovery_remaining: int
    passkeys: tuple[PasskeyCredential, ...]


class FactorService:
    def __init__(
        self,
        *,
        users: UserStore,
        store: FactorStorage,
        reauth: Reauthentication,
        notices: AccountNotices,
        sealer: SecretSealer,
        recovery_hasher: RecoveryCodeHasher,
        audit: AuditService,
        clock: Clock,
        issuer_name: str,
        enrolments: EnrolmentAttempts,
        last_factor: LastFactorGuard,
    ) -> None:
        self._users, self._store, self._reauth, self._notices = users, store, reauth, notices
        self._enrolments, self._last_factor = enrolments, last_factor
        self._sealer, self._recovery = sealer, recovery_hasher
        self._audit, self._clock, self._issuer = audit, clock, issuer_name

    def _user(self, user_id: str) -> User:
        user = self._users.get_user(user_id)
        if user is None:
            raise InvalidToken()
        return user

    def summary(self, user_id: str) -> FactorSummary:
        user = self._user(user_id)
        totp = self._store.get_totp(user_id)
        return FactorSummary(
            sms=user.phone is not None,
            totp=totp is not None and totp.enabled,
            recovery_remaining=self._store.count_recovery_codes(user_id),
            passkeys=tuple(self._store.list_passkeys(user_id)),
        )

    def start_totp(
        self, user_id: str, current_password: str, ctx: RequestContext = NO_CONTEXT
    ) -> TotpEnrolment:
        """A new secret, pending until a code from it is confirmed (within `ENROLMENT_SECONDS`, in at most
        `ENROLMENT_ATTEMPTS` tries).

        Raises: InvalidCredentials (the password is wrong), RateLimited, InvalidToken (the user is gone).
        """
        user = self._reauth.account(user_id, current_password, ctx, reason="reauth_totp")
        secret = new_totp_secret()
        sealed = self._sealer.seal(user_id, secret)
        self._enrolments.open(user_id, sealed)  # first: an enrolment is never pending without its count
        self._store.begin_totp_enrolment(user_id, sealed, self._clock.now())
        return TotpEnrolment(secret=secret, uri=provisioning_uri(secret, user.email, self._issuer))

    def confirm_totp(self, user_id: str, code: str, ctx: RequestContext = NO_CONTEXT) -> RecoveryCodes:
        """Enable the pending secret once the app shows a matching code; returns fresh recovery codes.

        Raises: EnrolmentNotStarted (none pending, or it ended: expired, or its attempts are spent),
            WrongEnrolmentCode.
        """
        factor = self._store.get_totp(user_id)
        if factor is None or factor.pending_sealed is None:
            raise EnrolmentNotStarted()
        # Counted before the code is compared: a token alone must not guess its way to new recovery codes.
        if not self._enrolments.take(user_id, factor.pending_sealed):
            raise EnrolmentNotStarted(ENROLMENT_ENDED)
        now = self._clock.now()
        # Read as the sign-in reads it: a code typed in full-width or Arabic-Indic digits is the same code.
        typed = ascii_digits(code.strip())
        step = matching_step(self._sealer.open(user_id, factor.pending_sealed), typed, now)
        if step is None:
            raise WrongEnrolmentCode(field="code")
        if not self._store.confirm_totp(user_id, factor.pending_sealed, step, now):
            raise EnrolmentNotStarted()  # another confirmation or a new enrolment won the race
        self._audit.record("factor_enabled", ctx=ctx, user_id=user_id, factor="totp")
        codes = self._new_recovery_codes(user_id, ctx)  # its enrolment began with the password
        self._notices.send(self._user(user_id), "sign_in_changed", ctx)
        return codes

    def disable_totp(self, user_id: str, current_password: str, ctx: RequestContext = NO_CONTEXT) -> None:
        """Raises: InvalidCredentials, RateLimited, FactorUnavailable (no authenticator app),
        LastSecondFactor (it is the only second factor of an account that must have one)."""
        user = self._reauth.account(user_id, current_password, ctx, reason="reauth_totp_off")
        factor = self._store.get_totp(user_id)
        # An enrolment never confirmed is no app: removing it would tell the owner (and the trail) that a
        # way to sign in was removed when none was. It ends by itself (ENROLMENT_SECONDS).
        if factor is None or not factor.enabled:
            raise FactorUnavailable("This account has no authenticator app.")
        self._last_factor.allow_removing_app(user)
        if not self._store.delete_totp(user_id):
            raise FactorUnavailable("This account has no authenticator app.")
        self._audit.record("factor_removed", ctx=ctx, user_id=user_id, factor="totp")
        self._notices.send(user, "sign_in_changed", ctx)

    def regenerate_recovery_codes(
        self, user_id: str, current_password: str, ctx: RequestContext = NO_CONTEXT
    ) -> RecoveryCodes:
        """Ten new codes, after the current password; every earlier code stops working.

        Raises: InvalidCredentials (the password is wrong), RateLimited, InvalidToken (the user is gone).
        """
        user = self._reauth.account(user_id, current_password, ctx, reason="reauth_recovery_codes")
        codes = self._new_recovery_codes(user_id, ctx)
        self._notices.send(user, "sign_in_changed", ctx)
        return codes

    def _new_recovery_codes(self, user_id: str, ctx: RequestContext) -> RecoveryCodes:
        """Ten new codes; every earlier code stops working."""
        codes = tuple(new_recovery_codes())
        hashes = tuple(self._recovery.digest(user_id, code) for code in codes)
        self._store.replace_recovery_codes(user_id, hashes, self._clock.now())
        self._audit.record("recovery_codes_generated", ctx=ctx, user_id=user_id)
        return RecoveryCodes(codes=codes, remaining=len(codes))

    def recovery_codes_left(self, user_id: str) -> RecoveryCodes:
        return RecoveryCodes(codes=(), remaining=self._store.count_recovery_codes(user_id))

"""Password recovery: a code to the verified phone (or email), then a new password, then a notice to the
owner.

`forgot` answers the same for every email, known or not: the same storage work on the request path
(one read, the email's reset budget counted, one challenge written) and the same shape of answer; the code
itself is sent by a deferred step the edge runs after answering, so a provider's latency cannot tell a known
email from an unknown.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from twostep.domain.clock import Clock
from twostep.domain.errors import ChallengeNotFound, TwoStepError
from twostep.domain.identity import normalise_email
from twostep.domain.models import NO_CONTEXT, Challenge, RequestContext, User
from twostep.domain.otp import CodeHasher
from twostep.domain.password_policy import PasswordPolicy
from twostep.domain.passwords import PasswordHasher
from twostep.domain.ports import ChallengeStore, UserStore
from twostep.services.account_notices import AccountNotices
from twostep.services.audit import AuditService
from twostep.services.challenges import ChallengeService, CodeSpec
from twostep.services.code_placeholders import code_placeholder
from twostep.services.devices import DeviceService
from twostep.services.limits import LimitsService
from twostep.services.session_ending import SessionEnder
from twostep.services.unchanged_credentials import refuse_if_changed, set_password_hash_unchanged

Channel = Literal["auto", "sms", "email"]


@dataclass(frozen=True, slots=True)
class ResetStarted:
    reset_id: str
    expires_at: datetime
    deliver: Callable[[], None]  # run after answering; never raises


class PasswordRecoveryService:
    def __init__(
        self,
        *,
        users: UserStore,
        challenges: ChallengeStore,
        codes: ChallengeService,
        code_hasher: CodeHasher,
        hasher: PasswordHasher,
        limits: LimitsService,
        sessions: SessionEnder,
        audit: AuditService,
        clock: Clock,
        spec: CodeSpec,
        password_policy: PasswordPolicy,
        notices: AccountNotices,
        devices: DeviceService | None = None,
    ) -> None:
        """`notices`: tell the owner of a reset. `devices`: the remembered devices, whose owner's reset
        spends a budget of its own (None: none)."""
        self._users, self._challenges, self._codes, self._code_hasher = users, challenges, codes, code_hasher
        self._hasher, self._limits, self._sessions = hasher, limits, sessions
        self._audit, self._clock, self._spec = audit, clock, spec
        self._password_policy, self._notices, self._devices = password_policy, notices, devices

    def forgot(
        self,
        email: str,
        channel: Channel = "auto",
        ctx: RequestContext = NO_CONTEXT,
        device_token: str | None = None,
    ) -> ResetStarted:
        """Start a reset; the same answer whether or not the account exists. `device_token`: from a device
        the account remembered, whose resets have a budget of their own.

        Raises:
            InvalidInput: not an email address. RateLimited: the caller's IP rate, the email's resets of
            the day (or the client's share of them, or its remembered devices' own).
        """
        self._limits.check_ip("login", ctx)
        address = normalise_email(email)
        user = self._users.find_user_by_email(address)
        # Counted for the email typed, known or not: its code would spend the account's texts of the day.
        owner_device = self._from_owner_device(device_token, user)
        self._limits.count_reset_request(address, ctx, from_owner_device=owner_device)
        reset_id = str(uuid.uuid4())
        # Written for unknown emails too, and before the real code is sent: reset answers alike for both.
        placeholder = code_placeholder(
            reset_id,
            "reset",
            subject=user.id if user else "",
            address=address,
            code_hasher=self._code_hasher,
            spec=self._spec,
            now=self._clock.now(),
        )
        self._challenges.put_challenge(placeholder)
        self._audit.record(
            "password_reset_requested", ctx=ctx, email=address, user_id=user.id if user else None
        )
        return ResetStarted(
            reset_id, placeholder.expires_at, lambda: self._deliver(user, placeholder, channel, ctx)
        )

    def _deliver(
        self, user: User | None, placeholder: Challenge, channel: Channel, ctx: RequestContext
    ) -> None:
        """Send the code to the verified phone, or the verified email; nothing for unknown accounts. The
        code ends when its placeholder does: a later end, answered after that of an unknown email's
        placeholder, would tell who has an account."""
        if user is None:
            return
        try:
            if channel != "email" and user.phone is not None and user.phone_verified:
                self._codes.issue(
                    challenge_id=placeholder.id,
                    purpose="reset",
                    subject=user.id,
                    phone=user.phone,
                    spec=replace(self._spec, preferred_locale=user.locale),
                    ctx=ctx,
                    credentials_tag=user.credentials_tag,
                    ends_at=placeholder.expires_at,
                )
            elif channel != "sms" and user.email_verified:
                self._codes.issue_email(
                    challenge_id=placeholder.id,
                    purpose="reset",
                    subject=user.id,
                    email=user.email,
                    spec=replace(self._spec, preferred_locale=user.locale),
                    ctx=ctx,
                    phone=user.phone,
                    credentials_tag=user.credentials_tag,
                    ends_at=placeholder.expires_at,
                )
        except TwoStepError as exc:  # nobody to tell: the answer has gone; the trail has the reason
            self._audit.record(
                "code_delivery_failed", ctx=ctx, user_id=user.id, purpose="reset", reason=exc.code
            )

    def reset(
        self,
        reset_id: str,
        code: object,
        new_password: str,
        ctx: RequestContext = NO_CONTEXT,
        device_token: str | None = None,
    ) -> None:
        """Set a new password with the code, end every session of the account, then tell its owner (see
        `_tell_owner`). `device_token`: from a device the account remembered; its wrong codes spend the
        owner's own budget, not the email's.

        Raises:
            WeakPassword / InvalidInput, ChallengeNotFound, ChallengeGone (410 family; CredentialsChanged: the
            account's password, number or address changed since the reset began), WrongCode, RateLimited.
        """
        challenge = self._challenges.get_challenge(reset_id)
        if challenge is None or challenge.purpose != "reset":
            raise ChallengeNotFound()
        user = self._users.get_user(challenge.subject) if challenge.subject else None
        if user is None:
            # No account (an unknown email's placeholder, or an account deleted since): its wrong codes
            # are audited under no id, never under one the deletion pseudonymised.
            challenge = replace(challenge, subject="")
        # The email typed, never the account's: the same words, and so the same answer to a weak password
        # (before any code is spent), whether or not the email has an account.
        email = requested_email(challenge, user)
        self._password_policy.check(new_password, email=email, field="newPassword")
        # The email typed spends its own reset budget, never the account's sign-in one: the same for an
        # unknown email's placeholder as for a known one's code, and no lock on the owner's sign-in.
        owner_device = self._from_owner_device(device_token, user)
        self._codes.check_reset(challenge, code, email, ctx, from_owner_device=owner_device)
        if user is None:  # an unknown email's placeholder: its code cannot be known, so never here
            raise ChallengeNotFound()
        # Only after the right code: before it, the answer would tell a guesser that the account changed.
        refuse_if_changed(challenge, user, self._audit, ctx, event="password_reset_failed")
        new_hash = self._hasher.hash(new_password)
        set_password_hash_unchanged(
            self._users, user, new_hash, self._audit, ctx, event="password_reset_failed"
        )
        # Recovery from a spent wrong-code budget: the code proved the number or address, and the password
        # that reached the second step is replaced (reset codes themselves spend their own budget).
        self._limits.reset_code_failures(user.id)
        self._audit.record("password_reset", ctx=ctx, user_id=user.id)
        self._sessions.end_all(user.id, ctx=ctx, reason="password_reset")
        self._tell_owner(user, challenge, ctx)

    def _tell_owner(self, user: User, challenge: Challenge, ctx: RequestContext) -> None:
        """The `password_reset` notice, once the reset is written (a failed notice is audited and never
        undoes it): whoever holds the channel the code went to (a swapped SIM, a read mailbox) can reset
        the password, so the owner hears of it on the other proven channel too. By email to a proven
        address, whichever way the code went; by text to the proven number when the code was emailed (the
        mailbox may be what was stolen) or when the number is the only channel proven."""
        emailed = challenge.channel == "email"
        self._notices.send(user, "password_reset", ctx, phone=user.phone if emailed else None)

    def _from_owner_device(self, device_token: str | None, user: User | None) -> bool:
        """Whether `device_token` is one of the account's remembered devices. A token is looked up for an
        unknown email too (under no account, so never its owner's): the same storage work for both."""
        if self._devices is None or not device_token:
            return False
        return self._devices.recognises(device_token, user.id if user else "")


def requested_email(challenge: Challenge, account: User | None) -> str:
    """The email a reset was requested for: kept on its placeholder and on an emailed code; a texted code
    keeps none, and its account's is that email (`forgot` found the account by it)."""
    return challenge.email or (account.email if account else "")

"""Taking back an unproven address: whoever receives its mail proves it, and an account that only
claimed it (a sign-up that never proved the address) lets it go, so its owner can sign up.

A phone number is only a claim until a code comes back from it; an address cannot be one in the same way,
since it is the sign-in's key. So an address stays the account's until its owner asks for it: `start`
answers the same for every address (an account that holds it unproven, one that proved it, or none), with
the same storage work on the request path, as a password reset's `forgot` does; the code goes out after
the answer, and only to an address held unproven. An account that proved its address is never touched.
The right code releases the address (`UserStore.release_email`): the account gets a placeholder no one
can sign in with or receive mail at, its sessions end, and its proven number (if any) is told why.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from twostep.domain.clock import Clock
from twostep.domain.errors import AccountExists, ChallengeNotFound, TwoStepError
from twostep.domain.identity import normalise_email
from twostep.domain.models import NO_CONTEXT, Challenge, RequestContext, User
from twostep.domain.otp import CodeHasher
from twostep.domain.ports import ChallengeStore, UserStore
from twostep.services.account_notices import AccountNotices
from twostep.services.audit import AuditService
from twostep.services.challenges import ChallengeService, CodeSpec
from twostep.services.code_placeholders import code_placeholder
from twostep.services.limits import LimitsService
from twostep.services.session_ending import SessionEnder

# RFC 2606 keeps `.invalid` out of the DNS, so no mail is delivered there, and `normalise_email`
# refuses it as a special-use domain, so no sign-in, reset or sign-up can type a placeholder.
PLACEHOLDER_DOMAIN = "email-released.invalid"
# A release that lost its conditional write to a change of the account is tried again on a fresh read.
RELEASE_TRIES = 3


def placeholder_address() -> str:
    """An address for an account whose address was taken back: unique, unreachable, never typed."""
    return f"released-{uuid.uuid4().hex}@{PLACEHOLDER_DOMAIN}"


def is_placeholder(address: str) -> bool:
    """Whether `address` is a placeholder (`placeholder_address`): the account has no address of its own."""
    return address.endswith("@" + PLACEHOLDER_DOMAIN)


@dataclass(frozen=True, slots=True)
class ClaimStarted:
    claim_id: str
    expires_at: datetime
    deliver: Callable[[], None]  # run after answering; never raises


class EmailClaimService:
    def __init__(
        self,
        *,
        users: UserStore,
        challenges: ChallengeStore,
        codes: ChallengeService,
        code_hasher: CodeHasher,
        limits: LimitsService,
        notices: AccountNotices,
        sessions: SessionEnder,
        audit: AuditService,
        clock: Clock,
        spec: CodeSpec,
    ) -> None:
        self._users, self._challenges, self._codes, self._code_hasher = users, challenges, codes, code_hasher
        self._limits, self._notices, self._sessions = limits, notices, sessions
        self._audit, self._clock, self._spec = audit, clock, spec

    def start(self, email: str, ctx: RequestContext = NO_CONTEXT) -> ClaimStarted:
        """Start a claim; the same answer whether or not an account holds the address, proven or not.

        Raises:
            InvalidInput: not an email address. RateLimited: the caller's IP rate.
        """
        self._limits.check_ip("login", ctx)
        address = normalise_email(email)
        holder = self._users.find_user_by_email(address)
        claim_id = str(uuid.uuid4())
        # Written for every address, before a real code is sent (only to one held unproven).
        placeholder = code_placeholder(
            claim_id,
            "email_claim",
            subject=holder.id if holder else "",
            address=address,
            code_hasher=self._code_hasher,
            spec=self._spec,
            now=self._clock.now(),
        )
        self._challenges.put_challenge(placeholder)
        self._audit.record(
            "email_claim_requested", ctx=ctx, email=address, user_id=holder.id if holder else None
        )
        return ClaimStarted(claim_id, placeholder.expires_at, lambda: self._deliver(holder, placeholder, ctx))

    def _deliver(self, holder: User | None, placeholder: Challenge, ctx: RequestContext) -> None:
        """Email the code to an address held unproven; nothing for a free or a proven one. The code ends
        when its placeholder does (see `PasswordRecoveryService._deliver`)."""
        if holder is None or holder.email_verified:
            return
        try:
            # In the claimant's languages (the request's), never the holder's: the reader is the claimant.
            self._codes.issue_email(
                challenge_id=placeholder.id,
                purpose="email_claim",
                subject=holder.id,
                email=holder.email,
                spec=self._spec,
                ctx=ctx,
                ends_at=placeholder.expires_at,
            )
        except TwoStepError as exc:  # nobody to tell: the answer has gone; the trail has the reason
            self._audit.record(
                "code_delivery_failed", ctx=ctx, user_id=holder.id, purpose="email_claim", reason=exc.code
            )

    def confirm(self, claim_id: str, code: object, ctx: RequestContext = NO_CONTEXT) -> None:
        """With the right code, free the address from the account that holds it unproven.

        Raises:
            ChallengeNotFound, ChallengeGone (410 family), WrongCode, RateLimited, InvalidInput,
            AccountExists: the account holding the address proved it meanwhile (it is theirs).
        """
        challenge = self._challenges.get_challenge(claim_id)
        if challenge is None or challenge.purpose != "email_claim" or not challenge.email:
            raise ChallengeNotFound()
        address = challenge.email
        # Wrong codes spend the address's reset budget, never an account's sign-in one (no password here).
        self._codes.check_reset(challenge, code, address, ctx)
        self._release(address, ctx)
        # The claimant goes on to sign up or change their email to the address, which may send it a code at
        # once: the claim's code paced it, and the right code shows its reader is the one asking now.
        self._limits.end_email_cooldown(address, challenge.subject)
        self._audit.record("email_claimed", ctx=ctx, email=address)

    def _release(self, address: str, ctx: RequestContext) -> None:
        """The code proved the mailbox: whichever account holds the address now lets it go, if unproven.

        Raises: AccountExists (that account proved the address)."""
        for _ in range(RELEASE_TRIES):
            holder = self._users.find_user_by_email(address)
            if holder is None:
                return  # free already: its account moved to another address or was deleted
            if holder.email_verified:
                break
            placeholder = placeholder_address()
            if self._users.release_email(holder, placeholder):
                self._released(holder, placeholder, ctx)
                return
        raise AccountExists("The account with this email address has proven it.")

    def _released(self, holder: User, placeholder: str, ctx: RequestContext) -> None:
        self._audit.record("email_released", ctx=ctx, user_id=holder.id, reason="claimed")
        self._sessions.end_all(holder.id, ctx=ctx, reason="email_claimed")
        # Only a proven number hears of it (the address was never the account's to write to).
        self._notices.send(replace(holder, email=placeholder), "email_released", ctx, phone=holder.phone)

"""Password sign-in, then a second factor, as one service: the first step (`login_password_step`:
`start` checks the password and texts a code or expects an app's, `resend` texts a fresh one) and the
second (`login_code_step`: `finish` / `complete` trade the code for tokens, `gated` runs any factor's
check under the attempt budget and the account lock). A remembered device skips the second step."""

from __future__ import annotations

from twostep.domain.passwords import PasswordHasher
from twostep.domain.ports import ChallengeStore, UserStore
from twostep.services.audit import AuditService
from twostep.services.challenges import ChallengeService, CodeSpec
from twostep.services.devices import DeviceService
from twostep.services.limits import LimitsService
from twostep.services.login_code_step import AMR, CHANNEL_METHOD, CodeStep, SignedIn
from twostep.services.login_password_step import (
    REMEMBERED_DEVICE_AMR,
    UNSENT_CHALLENGE_TTL_SECONDS,
    CodeResent,
    LoginStarted,
    PasswordStep,
)
from twostep.services.second_factor import SecondFactorService
from twostep.services.tokens import TokenService

__all__ = [
    "AMR",
    "CHANNEL_METHOD",
    "REMEMBERED_DEVICE_AMR",
    "UNSENT_CHALLENGE_TTL_SECONDS",
    "CodeResent",
    "LoginService",
    "LoginStarted",
    "SignedIn",
]


class LoginService:
    def __init__(
        self,
        *,
        users: UserStore,
        challenges: ChallengeStore,
        codes: ChallengeService,
        tokens: TokenService,
        hasher: PasswordHasher,
        limits: LimitsService,
        audit: AuditService,
        code_spec: CodeSpec,
        require_second_factor: bool,
        factors: SecondFactorService | None = None,
        devices: DeviceService | None = None,
    ) -> None:
        self.password_step = PasswordStep(
            users=users,
            challenges=challenges,
            codes=codes,
            tokens=tokens,
            hasher=hasher,
            limits=limits,
            audit=audit,
            code_spec=code_spec,
            require_second_factor=require_second_factor,
            factors=factors,
            devices=devices,
        )
        self.code_step = CodeStep(
            users=users,
            challenges=challenges,
            codes=codes,
            tokens=tokens,
            limits=limits,
            audit=audit,
            factors=factors,
        )
        # Each step's own methods, bound once: a caller reaches them without a forwarding call.
        self.password_matches = self.password_step.password_matches
        self.start = self.password_step.start
        self.resend = self.password_step.resend
        self.finish = self.code_step.finish
        self.complete = self.code_step.complete
        self.gated = self.code_step.gated

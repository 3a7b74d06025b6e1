"""Password sign-in, then a second factor, as one service: the first step (`login_password_step`:
`start` checks the password and texts a code or expects an app's, `resend` texts a fresh one) and the
second (`login_code_step`: `finish` / `complete` trade the code for tokens, `gated` runs any factor's
check under the attempt budget and the account lock). A remembered device skips the second step."""

from __future__ import annotations

from twostep.services.login_code_step import AMR, CHANNEL_METHOD, CodeStep, SignedIn
from twostep.services.login_password_step import (
    REMEMBERED_DEVICE_AMR,
    UNSENT_CHALLENGE_TTL_SECONDS,
    CodeResent,
    LoginStarted,
    PasswordStep,
)

__all__ = [
    "AMR",
    "CHANNEL_METHOD",
    "REMEMBERED_DEVICE_AMR",
    "UNSENT_CHALLENGE_TTL_SECONDS",
    "CodeResent",
    "CodeStep",
    "LoginService",
    "LoginStarted",
    "PasswordStep",
    "SignedIn",
]


class LoginService:
    """Both steps behind one service; the container builds each step with what it needs."""

    def __init__(self, password_step: PasswordStep, code_step: CodeStep) -> None:
        self.password_step, self.code_step = password_step, code_step
        # Each step's own methods, bound once: a caller reaches them without a forwarding call.
        self.confirm_replay = password_step.confirm_replay
        self.start = password_step.start
        self.resend = password_step.resend
        self.finish = code_step.finish
        self.complete = code_step.complete
        self.gated = code_step.gated

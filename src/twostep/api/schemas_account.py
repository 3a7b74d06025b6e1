"""Bodies of the account lifecycle routes: recovery, and changes of password, phone and email."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StrictInt, StrictStr

from twostep.api.schema_model import ApiModel
from twostep.api.schemas import NEW_PASSWORD_RULES, StrictBody, device_token_field
from twostep.services.account_changes import ChangeStarted
from twostep.services.email_claims import ClaimStarted
from twostep.services.recovery import ResetStarted

Code = Annotated[StrictStr, Field(max_length=32)] | Annotated[StrictInt, Field(ge=0, le=9_999_999_999)]
Id = Annotated[str, Field(max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
Password = Annotated[str, Field(max_length=1024)]
NewPassword = Annotated[str, Field(max_length=1024, description=NEW_PASSWORD_RULES)]


class ForgotRequest(StrictBody):
    email: str = Field(max_length=320)
    channel: Literal["auto", "sms", "email"] = Field(
        default="auto", description="`auto`: the verified phone, else the verified email."
    )
    device_token: str | None = device_token_field(
        "From an earlier `rememberDevice` on this device: its resets have a budget of their own, not the "
        "email's (the web UI sends its device cookie instead)."
    )


class ResetRequest(StrictBody):
    reset_id: Id = Field(alias="resetId")
    code: Code
    new_password: NewPassword = Field(alias="newPassword")
    device_token: str | None = device_token_field(
        "From an earlier `rememberDevice` on this device: its wrong codes spend a budget of their own, not "
        "the email's (the web UI sends its device cookie instead)."
    )


class PasswordChangeRequest(StrictBody):
    current_password: Password = Field(alias="currentPassword")
    new_password: NewPassword = Field(alias="newPassword")


class PhoneChangeRequest(StrictBody):
    phone_number: str = Field(alias="phoneNumber", max_length=64)
    current_password: Password = Field(alias="currentPassword")


class EmailChangeRequest(StrictBody):
    email: str = Field(max_length=320)
    current_password: Password = Field(alias="currentPassword")


class ConfirmRequest(StrictBody):
    change_id: Id = Field(alias="changeId")
    code: Code


class ResetStartedOut(ApiModel):
    resetId: str
    expiresAt: datetime

    @classmethod
    def of(cls, started: ResetStarted) -> ResetStartedOut:
        return cls(resetId=started.reset_id, expiresAt=started.expires_at)


class ChangeStartedOut(ApiModel):
    changeId: str
    expiresAt: datetime
    destination: str = Field(description="Masked: where the code went.")

    @classmethod
    def of(cls, started: ChangeStarted) -> ChangeStartedOut:
        return cls(changeId=started.change_id, expiresAt=started.expires_at, destination=started.destination)


class EmailClaimRequest(StrictBody):
    email: str = Field(max_length=320)


class EmailClaimConfirmRequest(StrictBody):
    claim_id: Id = Field(alias="claimId")
    code: Code


class ClaimStartedOut(ApiModel):
    claimId: str
    expiresAt: datetime

    @classmethod
    def of(cls, started: ClaimStarted) -> ClaimStartedOut:
        return cls(claimId=started.claim_id, expiresAt=started.expires_at)

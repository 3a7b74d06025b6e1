"""Request and response bodies of the accounts API (camelCase on the wire, as the replaced systems use)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr

from twostep.api.locale_input import LocaleField
from twostep.api.schema_model import ApiModel
from twostep.domain.identity import mask_phone
from twostep.domain.models import Message, User
from twostep.services.login import CodeResent, LoginStarted
from twostep.services.tokens import TokenPair


class StrictBody(ApiModel):
    """Unknown fields are refused (no mass assignment)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# The schema cannot say it, the setting decides: without these, sign-up answers 400 naming the field.
_REQUIRED_WITH_SECOND_STEP = "Required unless `TWOSTEP_REQUIRE_SECOND_FACTOR=false` (the default is true)."
# A new password's rules (sign-up, change, reset); a sign-in takes any stored password whatever they became.
NEW_PASSWORD_RULES = (
    "8 to 128 characters; at least 15 where `TWOSTEP_REQUIRE_SECOND_FACTOR=false`, since the password may "
    "then be the only factor (NIST SP 800-63B-4). Not a common password, nor only the email, the service's "
    "name, a repeated character or unit, or a keyboard or alphabet run, give or take letter case and digits "
    "or punctuation round it (a passphrase containing one is fine). Otherwise 400 `weak_password`, naming "
    "the minimum when the password is too short."
)


class RegisterRequest(StrictBody):
    first_name: str | None = Field(
        default=None, alias="firstName", max_length=200, description=_REQUIRED_WITH_SECOND_STEP
    )
    last_name: str | None = Field(
        default=None, alias="lastName", max_length=200, description=_REQUIRED_WITH_SECOND_STEP
    )
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024, description=NEW_PASSWORD_RULES)
    phone_number: str | None = Field(
        default=None,
        alias="phoneNumber",
        max_length=64,
        description=f"E.164 (`+14155552671`). {_REQUIRED_WITH_SECOND_STEP}",
    )
    locale: LocaleField = None


def device_token_field(description: str) -> Any:
    """The optional `deviceToken` a body carries: a device's token from an earlier `rememberDevice`."""
    return Field(default=None, alias="deviceToken", max_length=128, description=description)


class LoginRequest(StrictBody):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    device_token: str | None = device_token_field("From an earlier `rememberDevice`.")
    locale: LocaleField = None


ChannelName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=20,
        pattern=r"^[a-z]+$",
        description="`sms` (default), `voice` (a call reads the code aloud) or `whatsapp`, where the "
        "service configures it; any other answers 400 `channel_not_configured`.",
    ),
]


class SendRequest(StrictBody):
    """A new code for a login (`/otp/{otpId}/send` and `/otp/{otpId}/resend`): its channel and language."""

    channel: ChannelName = "sms"
    locale: LocaleField = None


class LocaleRequest(StrictBody):
    locale: StrictStr | None = Field(
        description="The language your code texts are written in, a BCP 47 tag (`de`, `pt-BR`); "
        "null forgets it (then the number's country decides)."
    )


class VerifyRequest(StrictBody):
    # Strict: a JSON `false` must not become the number 0 (and then the code "000000").
    otp: Annotated[StrictStr, Field(max_length=32)] | Annotated[StrictInt, Field(ge=0, le=9_999_999_999)] = (
        Field(description="The code (digits of any script); a JSON number is left-padded to the code length.")
    )
    factor: Literal["sms", "totp", "recovery"] | None = Field(
        default=None, description="Which factor the code is from; default: the one the login expects."
    )
    remember_device: StrictBool = Field(
        default=False, alias="rememberDevice", description="Skip the second factor here for a while."
    )


class RefreshRequest(StrictBody):
    refresh_token: str | None = Field(default=None, alias="refreshToken", max_length=512)


class MessageRequest(StrictBody):
    content: str = Field(max_length=2000)


class UserOut(ApiModel):
    id: str
    firstName: str | None
    lastName: str | None
    email: str
    phoneNumber: str | None = Field(description="Masked: country code and last two digits.")
    phoneVerified: bool = Field(description="A code sent to the number came back (it is this account's).")
    emailVerified: bool = Field(description="A code sent to the address came back.")
    createdAt: datetime
    locale: str | None = Field(
        default=None, description="The language code texts are written in (null: none chosen)."
    )

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            firstName=user.first_name,
            lastName=user.last_name,
            email=user.email,
            phoneNumber=mask_phone(user.phone) if user.phone else None,
            phoneVerified=user.phone_verified,
            emailVerified=user.email_verified,
            createdAt=user.created_at,
            locale=user.locale,
        )


class LoginChallengeOut(ApiModel):
    otpId: str
    redirectPath: str
    expiresAt: datetime
    destination: str = Field(description="The masked phone number codes are texted to (empty: none).")
    resendAfter: datetime
    factors: list[str] = Field(description="The second factors this account can use.")
    expectedFactor: str = Field(
        description="`sms` when a code was texted; `totp` when the account has an authenticator app (no SMS "
        "is sent); `recovery` or `passkey` when the text could not go out (`smsUnavailable`)."
    )
    smsUnavailable: Literal["failed", "limited"] | None = Field(
        default=None,
        description="Set when the login's text could not go out and the account can finish with another "
        "factor (`expectedFactor`): `failed` (the service could not send a text now) or `limited` (a limit "
        "on this number or account holds texts back until `resendAfter`). No code was sent; "
        "`/otp/{otpId}/resend` or `/send` asks for one again. Null otherwise.",
    )
    channels: list[str] = Field(
        default_factory=lambda: ["sms"],
        description="What a code can be sent by here (`sms`, and `voice` / `whatsapp` where configured): "
        "the `channel` of `/otp/{otpId}/send` and `/otp/{otpId}/resend`.",
    )

    @classmethod
    def of(cls, started: LoginStarted, channels: tuple[str, ...] = ("sms",)) -> LoginChallengeOut:
        return cls(
            otpId=started.otp_id,
            redirectPath=f"/otp/{started.otp_id}/verify",
            expiresAt=started.expires_at,
            destination=started.destination,
            resendAfter=started.resend_after,
            factors=list(started.factors),
            expectedFactor=started.expected,
            smsUnavailable=started.sms_unavailable,
            channels=list(channels),
        )


class TokenPairOut(ApiModel):
    accessToken: str
    tokenType: str = "Bearer"
    expiresIn: int
    refreshToken: str | None = Field(
        description="Null for the web UI (`X-Twostep-Client: web`), which gets it in an HttpOnly cookie."
    )

    @classmethod
    def of(cls, pair: TokenPair, *, for_web: bool = False) -> TokenPairOut:
        """For the web UI the refresh token stays out of the body, where page scripts could read it."""
        return cls(
            accessToken=pair.access_token,
            tokenType=pair.token_type,
            expiresIn=pair.expires_in,
            refreshToken=None if for_web else pair.refresh_token,
        )


class TutorialTokenPairOut(TokenPairOut):
    """`POST /signin`'s tokens: the Lambda JWT tutorial's `/signin` answered `{"token": ...}`, and its
    clients read that key."""

    token: str = Field(description="The access token again, under the Lambda JWT tutorial's name.")

    @classmethod
    def of_pair(cls, pair: TokenPairOut) -> TutorialTokenPairOut:
        return cls(**pair.model_dump(), token=pair.accessToken)


class ResendOut(ApiModel):
    expiresAt: datetime
    resendAfter: datetime

    @classmethod
    def of(cls, resent: CodeResent) -> ResendOut:
        return cls(expiresAt=resent.expires_at, resendAfter=resent.resend_after)


class HelloOut(ApiModel):
    message: str


class MessageOut(ApiModel):
    id: str
    content: str
    author: str
    createdAt: datetime

    @classmethod
    def of(cls, message: Message) -> MessageOut:
        return cls(
            id=message.id, content=message.content, author=message.author, createdAt=message.created_at
        )


class MessagePageOut(ApiModel):
    messages: list[MessageOut]
    nextCursor: str | None


class HealthOut(ApiModel):
    status: str
    storage: str


class LiveOut(ApiModel):
    status: str


class Problem(ApiModel):
    """RFC 9457 problem details; `code` is stable, `detail` is for people."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    code: str
    detail: str
    requestId: str | None = None

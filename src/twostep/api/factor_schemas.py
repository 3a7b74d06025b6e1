"""Request and response bodies of the second-factor routes (camelCase on the wire)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StrictBool

from twostep.api.schema_model import ApiModel
from twostep.api.schemas import StrictBody, TokenPairOut
from twostep.domain.factors import PasskeyCredential, RememberedDevice
from twostep.services.factors import FactorSummary, RecoveryCodes
from twostep.services.login import SignedIn

LOW_CODES_WARNING = "Only {n} recovery codes left: generate new ones on the security page."


def low_codes_warning(remaining: int, low: bool) -> str | None:
    return LOW_CODES_WARNING.format(n=remaining) if low else None


class PasswordConfirmation(StrictBody):
    current_password: str = Field(alias="currentPassword", max_length=1024)


class TotpConfirmRequest(StrictBody):
    code: str = Field(max_length=16, description="The 6-digit code the authenticator app shows now.")


CeremonyId = Annotated[
    str, Field(alias="ceremonyId", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")
]


class PasskeyRegisterRequest(StrictBody):
    ceremony_id: CeremonyId
    credential: dict[str, Any] = Field(description="The PublicKeyCredential as WebAuthn JSON (toJSON()).")
    name: str = Field(default="Passkey", max_length=60)


class PasskeySignInRequest(StrictBody):
    ceremony_id: CeremonyId
    credential: dict[str, Any] = Field(description="The PublicKeyCredential as WebAuthn JSON (toJSON()).")


class PasskeyAssertionRequest(PasskeySignInRequest):
    remember_device: StrictBool = Field(default=False, alias="rememberDevice")


class TotpEnrolmentOut(ApiModel):
    secret: str = Field(description="Base32; for apps that cannot scan. Shown once.")
    otpauthUri: str
    qrSvg: str = Field(description="The otpauth URI as a QR code (SVG markup).")


class RecoveryCodesOut(ApiModel):
    recoveryCodes: list[str] = Field(description="Shown once; empty unless just generated.")
    remaining: int
    warning: str | None = None

    @classmethod
    def of(cls, codes: RecoveryCodes) -> RecoveryCodesOut:
        return cls(
            recoveryCodes=list(codes.codes),
            remaining=codes.remaining,
            warning=low_codes_warning(codes.remaining, codes.running_low),
        )


class PasskeyOut(ApiModel):
    id: str
    name: str
    createdAt: datetime
    lastUsedAt: datetime | None
    synced: bool

    @classmethod
    def of(cls, passkey: PasskeyCredential) -> PasskeyOut:
        return cls(
            id=passkey.credential_id,
            name=passkey.name,
            createdAt=passkey.created_at,
            lastUsedAt=passkey.last_used_at,
            synced=passkey.backed_up,
        )


class FactorsOut(ApiModel):
    sms: bool
    totp: bool
    recoveryCodesLeft: int
    warning: str | None = None
    passkeys: list[PasskeyOut]
    # TWOSTEP_PASSKEY_LIMIT: with this many passkeys, adding one is refused (409 passkey_limit_reached)
    passkeyLimit: int

    @classmethod
    def of(cls, summary: FactorSummary, low: bool, passkey_limit: int) -> FactorsOut:
        return cls(
            sms=summary.sms,
            totp=summary.totp,
            recoveryCodesLeft=summary.recovery_remaining,
            # Codes an account made without an app run low too; one that never made any (only SMS) is
            # not told it has few.
            warning=low_codes_warning(
                summary.recovery_remaining, low and (summary.totp or summary.recovery_remaining > 0)
            ),
            passkeys=[PasskeyOut.of(p) for p in summary.passkeys],
            passkeyLimit=passkey_limit,
        )


class DeviceOut(ApiModel):
    id: str
    label: str
    createdAt: datetime
    expiresAt: datetime

    @classmethod
    def of(cls, device: RememberedDevice) -> DeviceOut:
        return cls(id=device.id, label=device.label, createdAt=device.created_at, expiresAt=device.expires_at)


class PasskeyOptionsOut(ApiModel):
    ceremonyId: str
    publicKey: dict[str, Any] = Field(description="Options for navigator.credentials (WebAuthn JSON).")


class SignedInOut(TokenPairOut):
    """Tokens, plus what the chosen factor left behind."""

    amr: list[str] = Field(description="How the user signed in (RFC 8176), as in the access token.")
    deviceToken: str | None = Field(
        default=None,
        description="With `rememberDevice`: send it as `deviceToken` at /login to skip the second factor."
        " Null for the web UI, which gets it in an HttpOnly cookie.",
    )
    recoveryCodesLeft: int | None = None
    warning: str | None = None

    @classmethod
    def signed_in(cls, signed: SignedIn, *, for_web: bool, device_token: str | None) -> SignedInOut:
        base = TokenPairOut.of(signed.pair, for_web=for_web)
        return cls(**base.model_dump(), amr=list(signed.amr), deviceToken=None if for_web else device_token)

"""The signed-in user's security settings: authenticator app, recovery codes, passkeys, devices."""

from __future__ import annotations

import io
import json
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from twostep.api.deferred_routes import DeferredRoute
from twostep.api.deps import ClaimsDep, ContainerDep, ContextDep
from twostep.api.factor_schemas import (
    DeviceOut,
    FactorsOut,
    PasskeyOptionsOut,
    PasskeyOut,
    PasskeyRegisterRequest,
    PasswordConfirmation,
    RecoveryCodesOut,
    TotpConfirmRequest,
    TotpEnrolmentOut,
)
from twostep.api.relying_party import relying_party
from twostep.api.responses import BEARER, BODY_ERRORS, errors

router = APIRouter(tags=["security"], route_class=DeferredRoute)
ItemId = Annotated[str, Path(max_length=1400, pattern=r"^[A-Za-z0-9_-]+$")]


def qr_svg(uri: str) -> str:
    """The URI as an SVG QR code (segno): a standalone document (with its namespace, so an <img> can
    show it from a data URI), without the XML declaration. segno is imported here, on the first enrolment,
    not with the app."""
    import segno

    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", xmldecl=False, svgns=True, scale=5, border=2)
    return out.getvalue().decode()


@router.get("/me/factors", response_model=FactorsOut, responses=errors(401, 503), openapi_extra=BEARER)
def factors(claims: ClaimsDep, container: ContainerDep) -> FactorsOut:
    """What the account can sign in with; a warning when 2 or fewer recovery codes are left, and how many
    passkeys it may hold (`passkeyLimit`)."""
    summary = container.factors.account.summary(claims.sub)
    low = container.factors.second_factor.running_low(summary.recovery_remaining)
    return FactorsOut.of(summary, low, container.factors.passkeys.limit)


@router.post(
    "/me/factors/totp",
    response_model=TotpEnrolmentOut,
    responses=errors(401, 429, 503, *BODY_ERRORS),
    openapi_extra=BEARER,
)
def start_totp(
    body: PasswordConfirmation, claims: ClaimsDep, container: ContainerDep, ctx: ContextDep
) -> TotpEnrolmentOut:
    """Start adding an authenticator app (needs the current password): the secret, its otpauth URI and
    a QR code. It is used for sign-in only after `/me/factors/totp/confirm`."""
    enrolment = container.factors.account.start_totp(claims.sub, body.current_password, ctx)
    return TotpEnrolmentOut(secret=enrolment.secret, otpauthUri=enrolment.uri, qrSvg=qr_svg(enrolment.uri))


@router.post(
    "/me/factors/totp/confirm",
    response_model=RecoveryCodesOut,
    responses=errors(400, 401, 503, *BODY_ERRORS),
    openapi_extra=BEARER,
)
def confirm_totp(
    body: TotpConfirmRequest, claims: ClaimsDep, container: ContainerDep, ctx: ContextDep
) -> RecoveryCodesOut:
    """Enable the app with a code it shows; returns 10 recovery codes, shown this once."""
    return RecoveryCodesOut.of(container.factors.account.confirm_totp(claims.sub, body.code, ctx))


@router.post(
    "/me/factors/totp/disable",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(400, 401, 409, 429, 503, *BODY_ERRORS),
    openapi_extra=BEARER,
)
def disable_totp(
    body: PasswordConfirmation, claims: ClaimsDep, container: ContainerDep, ctx: ContextDep
) -> Response:
    """Remove the authenticator app (needs the current password); sign-in texts codes again. 409
    `last_second_factor` when it is the only second factor of an account that must have one."""
    container.factors.account.disable_totp(claims.sub, body.current_password, ctx)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/me/factors/recovery-codes",
    response_model=RecoveryCodesOut,
    responses=errors(401, 503),
    openapi_extra=BEARER,
)
def recovery_codes_left(claims: ClaimsDep, container: ContainerDep) -> RecoveryCodesOut:
    return RecoveryCodesOut.of(container.factors.account.recovery_codes_left(claims.sub))


@router.post(
    "/me/factors/recovery-codes",
    response_model=RecoveryCodesOut,
    responses=errors(401, 429, 503, *BODY_ERRORS),
    openapi_extra=BEARER,
)
def regenerate_recovery_codes(
    body: PasswordConfirmation, claims: ClaimsDep, container: ContainerDep, ctx: ContextDep
) -> RecoveryCodesOut:
    """Ten new recovery codes (needs the current password), shown this once; every earlier code stops
    working."""
    codes = container.factors.account.regenerate_recovery_codes(claims.sub, body.current_password, ctx)
    return RecoveryCodesOut.of(codes)


@router.post(
    "/me/passkeys/options",
    response_model=PasskeyOptionsOut,
    responses=errors(400, 401, 409, 429, 503, *BODY_ERRORS),
    openapi_extra=BEARER,
)
def passkey_registration_options(
    body: PasswordConfirmation, claims: ClaimsDep, request: Request, container: ContainerDep, ctx: ContextDep
) -> PasskeyOptionsOut:
    """Options for `navigator.credentials.create()` to add a passkey to this account (needs the current
    password: a passkey signs in without one). 409 `passkey_limit_reached` when the account already has
    `TWOSTEP_PASSKEY_LIMIT` passkeys (remove one first)."""
    options = container.factors.passkeys.registration_options(
        claims.sub, body.current_password, relying_party(request, container.settings), ctx
    )
    return PasskeyOptionsOut(ceremonyId=options.ceremony_id, publicKey=json.loads(options.public_key))


@router.post(
    "/me/passkeys",
    status_code=status.HTTP_201_CREATED,
    response_model=PasskeyOut,
    responses=errors(400, 401, 409, 410, 503, *BODY_ERRORS),
    openapi_extra=BEARER,
)
def register_passkey(
    body: PasskeyRegisterRequest,
    claims: ClaimsDep,
    request: Request,
    container: ContainerDep,
    ctx: ContextDep,
) -> PasskeyOut:
    """Store the new passkey (the browser's answer to the options). 409 `passkey_exists` for a credential
    registered before, `passkey_limit_reached` when another registration filled the account meanwhile."""
    passkey = container.factors.passkeys.register(
        claims.sub,
        body.ceremony_id,
        body.credential,
        body.name,
        relying_party(request, container.settings),
        ctx,
    )
    return PasskeyOut.of(passkey)


@router.get("/me/passkeys", response_model=list[PasskeyOut], responses=errors(401, 503), openapi_extra=BEARER)
def passkeys(claims: ClaimsDep, container: ContainerDep) -> list[PasskeyOut]:
    return [PasskeyOut.of(p) for p in container.factors.passkeys.passkeys_of(claims.sub)]


@router.post(
    "/me/passkeys/{passkey_id}/remove",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 409, 429, 503, *BODY_ERRORS),
    openapi_extra=BEARER,
)
def remove_passkey(
    passkey_id: ItemId,
    body: PasswordConfirmation,
    claims: ClaimsDep,
    container: ContainerDep,
    ctx: ContextDep,
) -> Response:
    """Remove the passkey (needs the current password; idempotent: 204 also when it was already gone). 409
    `last_second_factor` when it is the only second factor of an account that must have one."""
    container.factors.passkeys.remove(claims.sub, passkey_id, body.current_password, ctx)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me/devices", response_model=list[DeviceOut], responses=errors(401, 503), openapi_extra=BEARER)
def devices(claims: ClaimsDep, container: ContainerDep) -> list[DeviceOut]:
    """Devices that skip the second factor ("remember this device")."""
    return [DeviceOut.of(d) for d in container.factors.devices.remembered(claims.sub)]


@router.post(
    "/me/devices/{device_id}/forget",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 422, 503),
    openapi_extra=BEARER,
)
def forget_device(device_id: ItemId, claims: ClaimsDep, container: ContainerDep, ctx: ContextDep) -> Response:
    """That device asks for the second factor again at its next sign-in (idempotent: 204 also when it
    was already forgotten)."""
    container.factors.devices.forget(claims.sub, device_id, ctx)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

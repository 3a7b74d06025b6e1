"""Sign-in with a choice of factor: the SMS fallback, a passkey as the second step, and passwordless
sign-in with a passkey."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response, status

from twostep.api.deps import ContainerDep, ContextDep
from twostep.api.factor_schemas import (
    PasskeyAssertionRequest,
    PasskeyOptionsOut,
    PasskeySignInRequest,
    SignedInOut,
)
from twostep.api.idempotency import IdempotentRoute, idempotent
from twostep.api.relying_party import relying_party
from twostep.api.responses import BODY_ERRORS, errors
from twostep.api.routes_accounts import OtpId, send_code, signed_in_response
from twostep.api.schemas import ResendOut, SendRequest
from twostep.api.token_transport import TransportDep
from twostep.services.passkeys import Options

router = APIRouter(tags=["accounts"], route_class=IdempotentRoute)


def _options(options: Options) -> PasskeyOptionsOut:
    return PasskeyOptionsOut(ceremonyId=options.ceremony_id, publicKey=json.loads(options.public_key))


@router.post(
    "/otp/{otp_id}/send",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ResendOut,
    responses=errors(400, 403, 404, 410, 429, 503, *BODY_ERRORS),
)
@idempotent("send")
def send(otp_id: OtpId, body: SendRequest, container: ContainerDep, ctx: ContextDep) -> ResendOut:
    """Send a code for this login by `channel`: `sms` (the fallback when the authenticator app is not at
    hand), or `voice` / `whatsapp` where configured. The sent code is then the expected factor; a
    channel this service does not carry answers 400 `channel_not_configured`. `locale` chooses the
    language of the text (or of the call)."""
    return send_code(otp_id, body, container, ctx)


@router.post(
    "/otp/{otp_id}/passkey/options",
    response_model=PasskeyOptionsOut,
    responses=errors(400, 404, 503),
)
def second_factor_passkey_options(
    otp_id: OtpId, request: Request, container: ContainerDep
) -> PasskeyOptionsOut:
    """Options for `navigator.credentials.get()` with this account's passkeys, as the second step."""
    rp = relying_party(request, container.settings)
    return _options(container.factors.passkey_login.second_factor_options(otp_id, rp))


@router.post(
    "/otp/{otp_id}/passkey",
    response_model=SignedInOut,
    responses=errors(400, 401, 404, 410, 429, 503, *BODY_ERRORS),
)
def second_factor_passkey(
    otp_id: OtpId,
    body: PasskeyAssertionRequest,
    request: Request,
    response: Response,
    container: ContainerDep,
    ctx: ContextDep,
    transport: TransportDep,
) -> SignedInOut:
    """Finish the login with a passkey instead of a code (`amr`: `pwd` and `hwk` or `swk`)."""
    rp = relying_party(request, container.settings)
    signed = container.factors.passkey_login.finish_second_factor(
        otp_id, body.ceremony_id, body.credential, rp, ctx
    )
    return signed_in_response(signed, body.remember_device, request, response, container, ctx, transport)


@router.post("/login/passkey/options", response_model=PasskeyOptionsOut, responses=errors(400, 429, 503))
def passwordless_options(request: Request, container: ContainerDep, ctx: ContextDep) -> PasskeyOptionsOut:
    """Options for a passwordless sign-in: any passkey of this site, with user verification."""
    rp = relying_party(request, container.settings)
    return _options(container.factors.passkey_login.passwordless_options(rp, ctx))


@router.post(
    "/login/passkey",
    response_model=SignedInOut,
    responses=errors(400, 401, 403, 410, 429, 503, *BODY_ERRORS),
)
def passwordless(
    body: PasskeySignInRequest,
    request: Request,
    response: Response,
    container: ContainerDep,
    ctx: ContextDep,
    transport: TransportDep,
) -> SignedInOut:
    """Sign in with a passkey alone (it checked a PIN or biometric): `amr` is `hwk`/`swk` and `user`."""
    rp = relying_party(request, container.settings)
    signed = container.factors.passkey_login.sign_in(body.ceremony_id, body.credential, rp, ctx)
    return signed_in_response(signed, False, request, response, container, ctx, transport)

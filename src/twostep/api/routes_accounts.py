"""Registration, password login, the code step, and the signed-in user's own routes."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import ValidationError

from twostep.api.deps import ClaimsDep, ContainerDep, ContextDep, request_context
from twostep.api.device_cookie import device_label, device_token, set_device_cookie
from twostep.api.factor_schemas import SignedInOut, low_codes_warning
from twostep.api.idempotency import by_login_email, idempotent
from twostep.api.lean_route import LeanRoute, lean
from twostep.api.locale_input import with_locale
from twostep.api.request_threads import request_threads
from twostep.api.responses import BEARER, BODY_ERRORS, errors
from twostep.api.schemas import (
    HelloOut,
    LocaleRequest,
    LoginChallengeOut,
    LoginRequest,
    RegisterRequest,
    ResendOut,
    SendRequest,
    TokenPairOut,
    TutorialTokenPairOut,
    UserOut,
    VerifyRequest,
)
from twostep.api.token_transport import TokenTransport, TransportDep, is_web_client, transport_for
from twostep.container import Container
from twostep.domain.models import RequestContext
from twostep.services.login import LoginStarted, SignedIn
from twostep.services.registration import Registration

router = APIRouter(tags=["accounts"], route_class=LeanRoute)


OtpId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=errors(400, 409, 429, 503, *BODY_ERRORS),
)
@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    responses=errors(400, 409, 429, 503, *BODY_ERRORS),
    include_in_schema=False,
)
def register(body: RegisterRequest, container: ContainerDep, ctx: ContextDep) -> UserOut:
    """Create an account; email and phone number are unique."""
    user = container.registration.register(
        Registration(
            email=body.email,
            password=body.password,
            first_name=body.first_name,
            last_name=body.last_name,
            phone=body.phone_number,
            locale=body.locale,
        ),
        ctx,
    )
    return UserOut.of(user)


def same_password(request: Request, container: Container, parsed: Any) -> bool:
    """A stored sign-in answer is replayed only to the password that passed it, checked by the account's
    own Argon2 hash (the idempotency record holds nothing derived from the password) and counted and
    limited like a sign-in's check: a wrong password raises its 401, a spent limit its 429."""
    try:
        # Judged as the route's schema judges the JSON body (a lone surrogate in a password is no string
        # there, and could not be hashed): only a body the sign-in would take reaches the password check.
        body = LoginRequest.model_validate_json(json.dumps(parsed))
    except ValidationError:
        return False  # not a sign-in's body: run as one without the key (refused by its schema)
    container.login.confirm_replay(body.email, body.password, request_context(request, container))
    return True


@router.post(
    "/login",
    response_model=LoginChallengeOut | TokenPairOut,
    responses=errors(400, 401, 403, 410, 429, 503, *BODY_ERRORS),
)
@idempotent("login", caller=by_login_email, secret="password", guard=same_password)
@lean
async def login(body: LoginRequest, request: Request, response: Response) -> LoginChallengeOut | TokenPairOut:
    """Check the password, then text a code, or expect the authenticator app's code (no SMS) when the
    account has one (`expectedFactor`). When the text cannot go out (the SMS providers fail, or a limit on
    the number or account holds it back) and the account has recovery codes or a passkey, the answer is a
    challenge that expects that factor, with `smsUnavailable` saying no code was sent (an account with SMS
    only gets the 503, 429 or 403 as before). Accounts without a second factor (when that is allowed) and
    remembered devices get tokens at once."""
    # The sign-in routes are the hot path. `async def` with one thread hop for the blocking service call:
    # a sync endpoint costs two (the endpoint, then the answer's validation), each a context switch on a
    # busy core. The container, context and transport are got directly: FastAPI solves each declared
    # dependency again on every request (together a third of the API stack's CPU here).
    container, ctx, transport = sign_in_call(request)
    ctx = with_locale(ctx, body.locale)
    device = device_token(request, body.device_token)
    result = await request_threads.run(container.login.start, body.email, body.password, ctx, device)
    if isinstance(result, LoginStarted):
        return LoginChallengeOut.of(result, container.codes.channels)
    return transport.deliver(result, response)


@router.post(
    "/signin",
    response_model=LoginChallengeOut | TutorialTokenPairOut,
    responses=errors(400, 401, 403, 410, 429, 503, *BODY_ERRORS),
    include_in_schema=False,
)
@idempotent("login", caller=by_login_email, secret="password", guard=same_password)
@lean
async def signin(
    body: LoginRequest, request: Request, response: Response
) -> LoginChallengeOut | TutorialTokenPairOut:
    """`/login` under the Lambda JWT tutorial's name: tokens given at once carry the access token as
    `token` too, the key the tutorial's clients read."""
    started = await login(body, request, response)
    return started if isinstance(started, LoginChallengeOut) else TutorialTokenPairOut.of_pair(started)


@router.post(
    "/otp/{otp_id}/verify",
    response_model=SignedInOut,
    responses=errors(400, 401, 404, 410, 429, 503, *BODY_ERRORS),
)
@lean
async def verify(otp_id: OtpId, body: VerifyRequest, request: Request, response: Response) -> SignedInOut:
    """Trade the code (of `factor`: `sms`, `totp` or `recovery`; default the expected one) for an access
    and a refresh token; each code works once. `rememberDevice` returns a device token.

    With `X-Twostep-Client: web` the refresh and device tokens go only into HttpOnly cookies.
    """
    container, ctx, transport = sign_in_call(request)

    def finish() -> SignedInOut:  # every blocking step in one thread hop (see `login`)
        signed = container.login.finish(otp_id, body.otp, ctx, body.factor)
        return signed_in_response(signed, body.remember_device, request, response, container, ctx, transport)

    return await request_threads.run(finish)


def sign_in_call(request: Request) -> tuple[Container, RequestContext, TokenTransport]:
    """What `ContainerDep`, `ContextDep` and `TransportDep` give, without FastAPI's dependency solving."""
    container: Container = request.app.state.container
    return container, request_context(request, container), transport_for(request, container.settings)


def signed_in_response(
    signed: SignedIn,
    remember: bool,
    request: Request,
    response: Response,
    container: ContainerDep,
    ctx: ContextDep,
    transport: TransportDep,
) -> SignedInOut:
    """The tokens (the transport's way), a device token when asked, a warning when codes run low."""
    pair = transport.deliver(signed.pair, response)
    devices = container.factors.devices
    token = devices.remember(signed.account, device_label(request), ctx) if remember else None
    web = is_web_client(request)
    if token is not None and web:
        set_device_cookie(response, token, devices.lifetime_seconds)
    out = SignedInOut(**pair.model_dump(), amr=list(signed.amr), deviceToken=None if web else token)
    if signed.factor == "recovery":
        left = container.factors.second_factor.recovery_left(signed.user_id)
        out.recoveryCodesLeft = left
        out.warning = low_codes_warning(left, container.factors.second_factor.running_low(left))
    return out


@router.post(
    "/otp/{otp_id}/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ResendOut,
    responses=errors(400, 403, 404, 410, 429, 503, *BODY_ERRORS),
)
@idempotent("resend")
def resend(
    otp_id: OtpId, container: ContainerDep, ctx: ContextDep, body: SendRequest | None = None
) -> ResendOut:
    """Send a new code for the same login; the old code stops working, the attempt budget stays.
    An optional body's `channel` (`sms` by default, `voice` or `whatsapp` where configured, as on
    `/otp/{otpId}/send`) chooses how, its `locale` the language."""
    return send_code(otp_id, body or SendRequest(), container, ctx)


def send_code(otp_id: str, body: SendRequest, container: Container, ctx: RequestContext) -> ResendOut:
    """A new code for the login by the body's channel, in its language: `/otp/{otpId}/resend` and
    `/otp/{otpId}/send` both send this way."""
    return ResendOut.of(container.login.resend(otp_id, with_locale(ctx, body.locale), channel=body.channel))


@router.put(
    "/me/locale", response_model=UserOut, responses=errors(400, 401, 503, *BODY_ERRORS), openapi_extra=BEARER
)
def set_locale(body: LocaleRequest, claims: ClaimsDep, container: ContainerDep) -> UserOut:
    """Choose the language of your code texts (null: let the number's country decide)."""
    return UserOut.of(container.locales.set(claims.sub, body.locale))


@router.get("/hello", response_model=HelloOut, responses=errors(401, 503), openapi_extra=BEARER)
async def hello(claims: ClaimsDep) -> HelloOut:
    """The Lambda JWT tutorial's private function."""
    # `async def`: nothing here blocks, and a sync endpoint costs a thread hop per request (a third of
    # the route's CPU in-process).
    return HelloOut(message=f"Hello, {claims.email}!")


@router.get("/me", response_model=UserOut, responses=errors(401, 503), openapi_extra=BEARER)
def me(claims: ClaimsDep, container: ContainerDep) -> UserOut:
    """The signed-in caller's account."""
    return UserOut.of(container.account.current(claims.sub))

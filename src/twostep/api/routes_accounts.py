"""Registration, password login, the code step, and the signed-in user's own routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status

from twostep.api.deps import ClaimsDep, ContainerDep, ContextDep
from twostep.api.responses import BEARER, BODY_ERRORS, errors
from twostep.api.schemas import (
    HelloOut,
    LoginChallengeOut,
    LoginRequest,
    RegisterRequest,
    ResendOut,
    TokenPairOut,
    UserOut,
    VerifyRequest,
)
from twostep.api.web_session import is_web_client, set_refresh_cookie
from twostep.services.login import LoginStarted
from twostep.services.registration import Registration
from twostep.services.tokens import TokenPair

router = APIRouter(tags=["accounts"])


def _issue(pair: TokenPair, request: Request, response: Response, container: ContainerDep) -> TokenPairOut:
    """The token pair as JSON; the web UI gets the refresh token only in its HttpOnly cookie."""
    web = is_web_client(request)
    if web:
        set_refresh_cookie(response, pair.refresh_token, container.settings)
    return TokenPairOut.of(pair, for_web=web)


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
        ),
        ctx,
    )
    return UserOut.of(user)


@router.post(
    "/login",
    response_model=LoginChallengeOut | TokenPairOut,
    responses=errors(400, 401, 403, 429, 503, *BODY_ERRORS),
)
@router.post(
    "/signin",
    response_model=LoginChallengeOut | TokenPairOut,
    responses=errors(400, 401, 403, 429, 503, *BODY_ERRORS),
    include_in_schema=False,
)
def login(
    body: LoginRequest, request: Request, response: Response, container: ContainerDep, ctx: ContextDep
) -> LoginChallengeOut | TokenPairOut:
    """Check the password and text a code; accounts without a phone (second factor off) get tokens."""
    result = container.login.start(body.email, body.password, ctx)
    if isinstance(result, LoginStarted):
        return LoginChallengeOut.of(result)
    return _issue(result, request, response, container)


@router.post(
    "/otp/{otp_id}/verify",
    response_model=TokenPairOut,
    responses=errors(400, 401, 404, 410, 429, 503, *BODY_ERRORS),
)
def verify(
    otp_id: OtpId,
    body: VerifyRequest,
    request: Request,
    response: Response,
    container: ContainerDep,
    ctx: ContextDep,
) -> TokenPairOut:
    """Trade the code for an access and a refresh token; each code works once.

    With `X-Twostep-Client: web` the refresh token goes only into an HttpOnly cookie (null in the body).
    """
    return _issue(container.login.complete(otp_id, body.otp, ctx), request, response, container)


@router.post(
    "/otp/{otp_id}/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ResendOut,
    responses=errors(400, 404, 410, 422, 429, 503),
)
def resend(otp_id: OtpId, container: ContainerDep, ctx: ContextDep) -> ResendOut:
    """Text a new code for the same login; the old code stops working, the attempt budget stays."""
    return ResendOut.of(container.login.resend(otp_id, ctx))


@router.get("/hello", response_model=HelloOut, responses=errors(401, 503), openapi_extra=BEARER)
def hello(claims: ClaimsDep) -> HelloOut:
    """The Lambda JWT tutorial's private function."""
    return HelloOut(message=f"Hello, {claims.email}!")


@router.get("/me", response_model=UserOut, responses=errors(401, 503), openapi_extra=BEARER)
def me(claims: ClaimsDep, container: ContainerDep) -> UserOut:
    """The signed-in caller's account."""
    return UserOut.of(container.account.current(claims.sub))

"""Registration, password login, the code step, and the signed-in user's own routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

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
from twostep.api.token_transport import TransportDep
from twostep.services.login import LoginStarted
from twostep.services.registration import Registration

router = APIRouter(tags=["accounts"])


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
    body: LoginRequest, response: Response, container: ContainerDep, ctx: ContextDep, transport: TransportDep
) -> LoginChallengeOut | TokenPairOut:
    """Check the password and text a code; accounts without a phone (second factor off) get tokens."""
    result = container.login.start(body.email, body.password, ctx)
    if isinstance(result, LoginStarted):
        return LoginChallengeOut.of(result)
    return transport.deliver(result, response)


@router.post(
    "/otp/{otp_id}/verify",
    response_model=TokenPairOut,
    responses=errors(400, 401, 404, 410, 429, 503, *BODY_ERRORS),
)
def verify(
    otp_id: OtpId,
    body: VerifyRequest,
    response: Response,
    container: ContainerDep,
    ctx: ContextDep,
    transport: TransportDep,
) -> TokenPairOut:
    """Trade the code for an access and a refresh token; each code works once.

    With `X-Twostep-Client: web` the refresh token goes only into an HttpOnly cookie (null in the body).
    """
    return transport.deliver(container.login.complete(otp_id, body.otp, ctx), response)


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

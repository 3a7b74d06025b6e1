"""Recovering a lost password, and the owner's changes of password, phone and email."""

from __future__ import annotations

from fastapi import APIRouter, BackgroundTasks, Request, Response, status

from twostep.api.deferred_routes import DeferredRoute
from twostep.api.deps import ClaimsDep, ContainerDep, ContextDep
from twostep.api.device_cookie import device_token
from twostep.api.responses import BEARER, BODY_ERRORS, errors
from twostep.api.schemas import UserOut
from twostep.api.schemas_account import (
    ChangeStartedOut,
    ClaimStartedOut,
    ConfirmRequest,
    EmailChangeRequest,
    EmailClaimConfirmRequest,
    EmailClaimRequest,
    ForgotRequest,
    PasswordChangeRequest,
    PhoneChangeRequest,
    ResetRequest,
    ResetStartedOut,
)

router = APIRouter(tags=["account"], route_class=DeferredRoute)
CODE_ERRORS = (400, 401, 404, 409, 410, 429, 503, *BODY_ERRORS)


@router.post(
    "/password/forgot",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ResetStartedOut,
    responses=errors(400, 429, 503, *BODY_ERRORS),
)
def forgot(
    body: ForgotRequest, request: Request, tasks: BackgroundTasks, container: ContainerDep, ctx: ContextDep
) -> ResetStartedOut:
    """Send a reset code to the verified phone (or email); the same answer for unknown emails.

    The code is sent after the answer, so the answer's timing does not depend on the account.
    """
    device = device_token(request, body.device_token)
    started = container.recovery.forgot(body.email, body.channel, ctx, device)
    tasks.add_task(started.deliver)
    return ResetStartedOut.of(started)


@router.post("/password/reset", status_code=status.HTTP_204_NO_CONTENT, responses=errors(*CODE_ERRORS))
def reset(body: ResetRequest, request: Request, container: ContainerDep, ctx: ContextDep) -> Response:
    """Set a new password with the code; every session of the account ends."""
    device = device_token(request, body.device_token)
    container.recovery.reset(body.reset_id, body.code, body.new_password, ctx, device)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/email-claims",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ClaimStartedOut,
    responses=errors(400, 429, 503, *BODY_ERRORS),
)
def start_email_claim(
    body: EmailClaimRequest, tasks: BackgroundTasks, container: ContainerDep, ctx: ContextDep
) -> ClaimStartedOut:
    """Claim an address an account signed up with but never proved: a code goes to the address (only when
    such an account holds it); the same answer for every address, sent after the answer."""
    started = container.claims.start(body.email, ctx)
    tasks.add_task(started.deliver)
    return ClaimStartedOut.of(started)


@router.post(
    "/email-claims/verify",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(400, 401, 404, 409, 410, 429, 503, *BODY_ERRORS),
)
def confirm_email_claim(body: EmailClaimConfirmRequest, container: ContainerDep, ctx: ContextDep) -> Response:
    """With the claim's code, the address leaves the account that never proved it and is free for a
    sign-up; `409` when that account proved it meanwhile."""
    container.claims.confirm(body.claim_id, body.code, ctx)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(400, 401, 410, 429, 503, *BODY_ERRORS),
    openapi_extra=BEARER,
)
def change_password(
    body: PasswordChangeRequest, claims: ClaimsDep, container: ContainerDep, ctx: ContextDep
) -> Response:
    """Change the password (the current one is required); the account's other sessions end."""
    container.changes.change_password(
        claims.sub, body.current_password, body.new_password, ctx, keep=claims.sid
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/me/phone",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ChangeStartedOut,
    responses=errors(400, 401, 403, 429, 503, *BODY_ERRORS),
    openapi_extra=BEARER,
)
def start_phone_change(
    body: PhoneChangeRequest, claims: ClaimsDep, container: ContainerDep, ctx: ContextDep
) -> ChangeStartedOut:
    """Text a code to the new number; it becomes the account's when the code comes back."""
    started = container.changes.start_phone_change(claims.sub, body.phone_number, body.current_password, ctx)
    return ChangeStartedOut.of(started)


@router.post("/me/phone/verify", response_model=UserOut, responses=errors(*CODE_ERRORS), openapi_extra=BEARER)
def confirm_phone_change(
    body: ConfirmRequest, claims: ClaimsDep, container: ContainerDep, ctx: ContextDep
) -> UserOut:
    """Switch to the new number; the old number and the verified email get a notice, and the account's
    other sessions end."""
    changed = container.changes.confirm_phone_change(
        claims.sub, body.change_id, body.code, ctx, keep=claims.sid
    )
    return UserOut.of(changed)


@router.post(
    "/me/email",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ChangeStartedOut,
    responses=errors(400, 401, 409, 429, 503, *BODY_ERRORS),
    openapi_extra=BEARER,
)
def start_email_change(
    body: EmailChangeRequest, claims: ClaimsDep, container: ContainerDep, ctx: ContextDep
) -> ChangeStartedOut:
    """Email a code to the new address; it becomes the account's when the code comes back."""
    return ChangeStartedOut.of(
        container.changes.start_email_change(claims.sub, body.email, body.current_password, ctx)
    )


@router.post(
    "/me/email/verify/start",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ChangeStartedOut,
    responses=errors(400, 401, 429, 503),
    openapi_extra=BEARER,
)
def start_email_verify(claims: ClaimsDep, container: ContainerDep, ctx: ContextDep) -> ChangeStartedOut:
    """Email a code to the account's address, to prove it; `400` when its address was taken back by a
    claim (a placeholder: set one with `POST /me/email`)."""
    return ChangeStartedOut.of(container.changes.start_email_verify(claims.sub, ctx))


@router.post("/me/email/verify", response_model=UserOut, responses=errors(*CODE_ERRORS), openapi_extra=BEARER)
def confirm_email(
    body: ConfirmRequest, claims: ClaimsDep, container: ContainerDep, ctx: ContextDep
) -> UserOut:
    """The code of an email change (switches the address, with notices, and the account's other sessions
    end) or of proving the address."""
    return UserOut.of(
        container.changes.confirm_email(claims.sub, body.change_id, body.code, ctx, keep=claims.sid)
    )

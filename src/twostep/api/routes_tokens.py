"""Refresh-token rotation and logout; how the tokens travel is the transport's business."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from twostep.api.deferred_routes import DeferredRoute
from twostep.api.deps import ContainerDep, ContextDep
from twostep.api.responses import BODY_ERRORS, errors
from twostep.api.schemas import RefreshRequest, TokenPairOut
from twostep.api.token_transport import TransportDep
from twostep.domain.errors import InvalidToken

router = APIRouter(tags=["tokens"], route_class=DeferredRoute)


@router.post("/token/refresh", response_model=TokenPairOut, responses=errors(401, 403, 503, *BODY_ERRORS))
def refresh(
    request: Request,
    response: Response,
    container: ContainerDep,
    ctx: ContextDep,
    transport: TransportDep,
    body: RefreshRequest | None = None,
) -> TokenPairOut | Response:
    """A new pair; the presented refresh token is spent, and reusing a spent one ends the session.

    With `X-Twostep-Client: web` the token may come from the refresh cookie, and the new one is set in it.
    """
    try:
        pair = container.tokens.refresh(transport.presented(request, body), ctx)
    except InvalidToken as exc:
        return transport.refused(exc)
    return transport.deliver(pair, response)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 503, *BODY_ERRORS),
)
def logout(
    request: Request,
    container: ContainerDep,
    ctx: ContextDep,
    transport: TransportDep,
    body: RefreshRequest | None = None,
) -> Response:
    """End the session (the refresh token's whole family); its access tokens stop working too.

    For the web UI the cookie is always cleared, and signing out of an already ended session succeeds.
    """
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    try:
        container.tokens.logout(transport.presented(request, body), ctx)
    except InvalidToken:
        if not transport.tolerates_missing_session():
            raise
    transport.ended(response)
    return response

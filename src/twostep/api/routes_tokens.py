"""Refresh-token rotation and logout (JSON body for API clients, an HttpOnly cookie for the web UI)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from twostep.api.deps import ContainerDep, ContextDep
from twostep.api.errors import error_response
from twostep.api.responses import BODY_ERRORS, errors
from twostep.api.schemas import RefreshRequest, TokenPairOut
from twostep.api.web_session import (
    clear_refresh_cookie,
    cookie_refresh_token,
    is_web_client,
    set_refresh_cookie,
)
from twostep.domain.errors import InvalidToken

router = APIRouter(tags=["tokens"])


def _token_from(body: RefreshRequest | None, request: Request) -> str:
    if body is not None and body.refresh_token:
        return body.refresh_token
    from_cookie = cookie_refresh_token(request)
    if from_cookie:
        return from_cookie
    raise InvalidToken("A refresh token is required.")


@router.post("/token/refresh", response_model=TokenPairOut, responses=errors(401, 503, *BODY_ERRORS))
def refresh(
    request: Request, container: ContainerDep, ctx: ContextDep, body: RefreshRequest | None = None
) -> TokenPairOut | Response:
    """A new pair; the presented refresh token is spent, and reusing a spent one ends the session.

    With `X-Twostep-Client: web` the token may come from the refresh cookie, and the new one is set in it.
    """
    web = is_web_client(request)
    try:
        pair = container.tokens.refresh(_token_from(body, request), ctx)
    except InvalidToken as exc:
        if not web:
            raise
        failed = error_response(exc)
        clear_refresh_cookie(failed)
        return failed
    out = TokenPairOut.of(pair, for_web=web)
    if not web:
        return out
    response = Response(out.model_dump_json(), media_type="application/json")
    set_refresh_cookie(response, pair.refresh_token, container.settings)
    return response


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 503, *BODY_ERRORS),
)
def logout(
    request: Request, container: ContainerDep, ctx: ContextDep, body: RefreshRequest | None = None
) -> Response:
    """End the session (the refresh token's whole family).

    For the web UI the cookie is always cleared, and signing out of an already ended session succeeds.
    """
    web = is_web_client(request)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    try:
        container.tokens.logout(_token_from(body, request), ctx)
    except InvalidToken:
        if not web:
            raise
    if web:
        clear_refresh_cookie(response)
    return response

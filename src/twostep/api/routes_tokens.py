"""Refresh-token rotation and logout."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from twostep.api.deps import ContainerDep, ContextDep
from twostep.api.responses import BODY_ERRORS, errors
from twostep.api.schemas import RefreshRequest, TokenPairOut
from twostep.domain.errors import InvalidToken

router = APIRouter(tags=["tokens"])


def _token_from(body: RefreshRequest | None) -> str:
    if body is None or not body.refresh_token:
        raise InvalidToken("A refresh token is required.")
    return body.refresh_token


@router.post("/token/refresh", response_model=TokenPairOut, responses=errors(401, 503, *BODY_ERRORS))
def refresh(container: ContainerDep, ctx: ContextDep, body: RefreshRequest | None = None) -> TokenPairOut:
    """A new pair; the presented refresh token is spent, and reusing a spent one ends the session."""
    return TokenPairOut.of(container.tokens.refresh(_token_from(body), ctx))


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 503, *BODY_ERRORS),
)
def logout(container: ContainerDep, ctx: ContextDep, body: RefreshRequest | None = None) -> Response:
    """End the session (the refresh token's whole family)."""
    container.tokens.logout(_token_from(body), ctx)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

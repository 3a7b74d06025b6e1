"""The signed-in user's sessions (list, end one, end all others) and deleting one's own account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from twostep.api.deferred_routes import DeferredRoute
from twostep.api.deps import ClaimsDep, ContainerDep, ContextDep, RecentClaimsDep
from twostep.api.responses import BEARER, BODY_ERRORS, errors
from twostep.api.schemas_sessions import DeleteAccountRequest, SessionListOut, SessionOut, SessionsEndedOut
from twostep.api.token_transport import TransportDep

router = APIRouter(tags=["sessions"], route_class=DeferredRoute)

SessionId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


# A page holds every session of all but unusual accounts (a script signing in again and again).
SESSIONS_PAGE = 100
SESSIONS_PAGE_MAX = 500


@router.get(
    "/sessions", response_model=SessionListOut, responses=errors(400, 401, 422, 503), openapi_extra=BEARER
)
def list_sessions(
    claims: ClaimsDep,
    container: ContainerDep,
    limit: Annotated[int, Query(ge=1, le=SESSIONS_PAGE_MAX)] = SESSIONS_PAGE,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> SessionListOut:
    """Your signed-in sessions, newest first, `limit` at a time (100 unless asked); `current` marks the one
    asking. Pass `nextCursor` back as `cursor` for older ones."""
    page = container.sessions.page(claims.sub, limit, cursor)
    return SessionListOut(
        sessions=[SessionOut.of(s, claims.sid) for s in page.items], nextCursor=page.next_cursor
    )


@router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 404, 422, 503),
    openapi_extra=BEARER,
)
def end_session(
    session_id: SessionId, claims: ClaimsDep, container: ContainerDep, ctx: ContextDep
) -> Response:
    """End one of your sessions (the current one too: that signs you out here)."""
    container.sessions.end(claims.sub, session_id, ctx)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/sessions", response_model=SessionsEndedOut, responses=errors(401, 503), openapi_extra=BEARER)
def end_other_sessions(claims: ClaimsDep, container: ContainerDep, ctx: ContextDep) -> SessionsEndedOut:
    """Sign out everywhere else: every session but the current one ends."""
    return SessionsEndedOut(ended=container.sessions.end_all(claims.sub, keep=claims.sid, ctx=ctx))


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=errors(401, 403, 429, 503, *BODY_ERRORS),
    openapi_extra=BEARER,
)
def delete_account(
    body: DeleteAccountRequest,
    claims: RecentClaimsDep,
    container: ContainerDep,
    ctx: ContextDep,
    transport: TransportDep,
) -> Response:
    """Delete your account: every session ends, your personal data is erased, your messages stay
    under a neutral author. Needs your current password and a recent sign-in."""
    container.account.delete(claims.sub, body.current_password, ctx)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    transport.ended(response)
    return response

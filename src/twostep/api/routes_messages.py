"""The message board (as in the serverless message-board article)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from twostep.api.deferred_routes import DeferredRoute
from twostep.api.deps import ClaimsDep, ContainerDep
from twostep.api.responses import BEARER, BODY_ERRORS, errors
from twostep.api.schemas import MessageOut, MessagePageOut, MessageRequest

router = APIRouter(tags=["messages"], route_class=DeferredRoute)


@router.get("/messages", response_model=MessagePageOut, responses=errors(400, 422, 503))
def list_messages(
    container: ContainerDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> MessagePageOut:
    """The newest messages first; pass `nextCursor` back as `cursor` for older ones."""
    page = container.messages.recent(limit, cursor)
    return MessagePageOut(messages=[MessageOut.of(m) for m in page.items], nextCursor=page.next_cursor)


@router.post(
    "/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=MessageOut,
    responses=errors(400, 401, 503, *BODY_ERRORS),
    openapi_extra=BEARER,
)
def post_message(body: MessageRequest, claims: ClaimsDep, container: ContainerDep) -> MessageOut:
    return MessageOut.of(container.messages.post(claims, body.content))

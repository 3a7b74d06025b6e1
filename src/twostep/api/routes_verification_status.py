"""`GET /verifications/status?auth_id=…`: where a verification code stands and whether it arrived.

Beside the create and check routes of `routes_verification` (same API key, same tenant scope, same
Flowroute-style error shape). `delivery` is the newest message of the code as its provider's receipts
describe it: `sent` until a receipt says `delivered`, `failed` or `undelivered` (null when the provider
gives no receipts, such as the console).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request

from twostep.api.deps import ContainerDep
from twostep.api.routes_verification import ERRORS, CallerDep, refuse_repeated
from twostep.api.schema_model import ApiModel
from twostep.api.verification_errors import FlowrouteErrorRoute
from twostep.domain.errors import ApiKeyRequired


class DeliveryOut(ApiModel):
    status: Literal["sent", "delivered", "failed", "undelivered"]
    channel: str
    provider: str
    sent_at: datetime
    updated_at: datetime
    error_code: str | None
    """The provider's code for a failure (Twilio's ErrorCode, Flowroute's status_code)."""


class VerificationStatusOut(ApiModel):
    auth_id: str
    status: Literal["pending", "verified", "canceled", "expired", "exhausted"]
    expires_at: datetime
    attempts_left: int
    delivery: DeliveryOut | None


def verification_status(
    request: Request, container: ContainerDep, ctx: CallerDep, auth_id: Annotated[str, Query(max_length=1000)]
) -> VerificationStatusOut:
    """The code's state (pending, verified, canceled, expired, exhausted) and its newest message's delivery."""
    refuse_repeated(request, ("auth_id",))
    if container.receipts is None:
        raise ApiKeyRequired("The verification status is not enabled on this service.")
    found = container.receipts.verification_status(auth_id, ctx.tenant)
    d = found.delivery
    return VerificationStatusOut(
        auth_id=found.auth_id,
        status=found.state,
        expires_at=found.expires_at,
        attempts_left=found.attempts_left,
        delivery=None
        if d is None
        else DeliveryOut(
            status=d.status,
            channel=d.channel,
            provider=d.provider,
            sent_at=d.sent_at,
            updated_at=d.updated_at,
            error_code=d.error_code,
        ),
    )


def verification_status_router(path: str = "/verifications") -> APIRouter:
    """The status route at `<path>/status` (`/status` for the standalone app mounted at `/`)."""
    router = APIRouter(tags=["verification"], route_class=FlowrouteErrorRoute)
    router.add_api_route(
        path.rstrip("/") + "/status",
        verification_status,
        methods=["GET"],
        response_model=VerificationStatusOut,
        responses={status: ERRORS[status] for status in (400, 401, 404, 503)},
    )
    return router

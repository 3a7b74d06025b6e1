"""`DELETE /verifications?auth_id=…`: cancel the pending code of an `auth_id` (the user backed out, the order
was dropped), so it stops working at once instead of when it expires.

Beside the create and check routes of `routes_verification` (same API key, same tenant scope, same
Flowroute-style error shape). Like `/status`, it answers the precise statuses (404 for an unknown
`auth_id`) in Flowroute compatibility mode too: Flowroute's service had no cancel, so no client of it
expects its 400s here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from twostep.api.deps import ContainerDep
from twostep.api.routes_verification import ERRORS, CallerDep, refuse_repeated
from twostep.api.schema_model import ApiModel
from twostep.api.verification_errors import FlowrouteErrorRoute
from twostep.services.verification import CancelOutcome

MESSAGES = {
    "canceled": "Success: Verification code canceled.",
    "verified": "Nothing to cancel: the code was already used.",
    "expired": "Nothing to cancel: the code has expired.",
    "exhausted": "Nothing to cancel: the code has no attempts left.",
}


class VerificationCanceledOut(ApiModel):
    message: str
    auth_id: str
    status: CancelOutcome


def cancel_verification(
    request: Request, container: ContainerDep, ctx: CallerDep, auth_id: Annotated[str, Query(max_length=1000)]
) -> VerificationCanceledOut:
    """Cancel the pending code of `auth_id`: a check with it answers 410 `ExpiredAuthCode` from now on, and
    a new create for the id works at once. Repeating it answers `canceled` again; a code that was already
    used, expired or out of attempts is left as it is, and `status` says which."""
    refuse_repeated(request, ("auth_id",))
    canceled = container.verification.cancel(auth_id, ctx)
    return VerificationCanceledOut(
        message=MESSAGES[canceled.state], auth_id=canceled.auth_id, status=canceled.state
    )


def verification_cancel_router(path: str = "/verifications") -> APIRouter:
    """The cancel route at `path` (`/` for the standalone app), method DELETE."""
    router = APIRouter(tags=["verification"], route_class=FlowrouteErrorRoute)
    router.add_api_route(
        path,
        cancel_verification,
        methods=["DELETE"],
        response_model=VerificationCanceledOut,
        responses={status: ERRORS[status] for status in (400, 401, 404, 429, 503)},
    )
    return router

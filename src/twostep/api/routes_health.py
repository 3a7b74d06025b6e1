"""Health for orchestrators and load balancers, on both apps: `/healthz/live`, `/healthz/ready`, `/healthz`.

Live means the process answers (restart it if not); ready means it can serve sign-ins now: storage
answers and takes a write, at least one SMS provider takes its credentials and the email provider its own
(send no traffic if not). `/healthz` is the older name of ready.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from twostep.api.causes import describe_cause
from twostep.api.deferred_routes import DeferredRoute
from twostep.api.deps import ContainerDep
from twostep.api.errors import problem, retry_headers
from twostep.api.responses import errors
from twostep.api.schemas import HealthOut, LiveOut
from twostep.domain.errors import DependencyUnavailable

router = APIRouter(tags=["health"], route_class=DeferredRoute)


@router.get("/healthz/live", response_model=LiveOut)
async def live() -> LiveOut:
    """200 while the process serves requests; touches no dependency."""
    return LiveOut(status="ok")


def _ready(container: ContainerDep) -> HealthOut | JSONResponse:
    try:
        container.health.ready()
    except DependencyUnavailable as exc:
        cause = describe_cause(exc)
        return problem(503, exc.code, exc.message, retry_headers(exc), cause=cause)
    return HealthOut(status="ok", storage=container.settings.storage)


@router.get("/healthz/ready", response_model=HealthOut, responses=errors(503))
def ready(container: ContainerDep) -> HealthOut | JSONResponse:
    """200 when storage answers and takes a write (with KMS on, the KMS key seals), an SMS provider takes its
    credentials (only 401/403 from every one counts) and the email provider its own (SMTP 535, SES's wrong
    keys); 503 with the cause (`cause`) otherwise."""
    return _ready(container)


@router.get("/healthz", response_model=HealthOut, responses=errors(503))
def healthz(container: ContainerDep) -> HealthOut | JSONResponse:
    """The same as `/healthz/ready` (kept for existing probes)."""
    return _ready(container)

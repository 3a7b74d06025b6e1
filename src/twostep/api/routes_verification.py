"""The SMS verification API (compatible with Flowroute's sms-verification): create a code for an `auth_id` and a number, then check it.

Mounted at `/verifications` in the full API and at `/` by `twostep serve --app verification`, where
Flowroute's `SMSAuthClient` works unchanged. Errors use Flowroute's shape (see `verification_errors`).

`auth_id` is the caller's own identifier for the thing being verified, not a user secret: an unknown id
answers 404 and a wrong code 401, as Flowroute sms-verification's contract requires; both paths do the same HMAC work.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, Security
from fastapi.security import APIKeyHeader
from pydantic import ConfigDict, Field, StrictInt, StrictStr

from twostep.api.deps import ContainerDep, ContextDep
from twostep.api.idempotency import IdempotentRoute, idempotent
from twostep.api.locale_input import LocaleField, with_locale
from twostep.api.responses import errors
from twostep.api.schema_model import ApiModel
from twostep.api.verification_compat import FlowrouteCompatRoute, FlowrouteCreatedOut, compat_error
from twostep.api.verification_errors import FlowrouteErrorOut, FlowrouteErrorRoute, flowroute_error
from twostep.channels import registry
from twostep.container import Container
from twostep.domain.errors import ApiKeyRequired, InvalidInput, TwoStepError
from twostep.domain.models import RequestContext, Tenant
from twostep.domain.transaction import Transaction
from twostep.settings import Settings

logger = logging.getLogger("twostep.api.verification")

_KEY_TENANT = "api_key_tenant"  # request.state: (the presented key, its tenant or None)

api_key_header = APIKeyHeader(
    name="X-Api-Key",
    auto_error=False,
    description="A key of TWOSTEP_VERIFY_API_KEYS (it names the tenant); required whenever a real SMS "
    "provider is configured, and outside dev.",
)

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": FlowrouteErrorOut, "description": text}
    for status, text in {
        400: "InvalidAPIUsage: bad input; `field` names it.",
        401: "InvalidAuthCode (wrong code) or InvalidApiKey.",
        404: "UnknownAuthId.",
        410: "ExpiredAuthCode (expired or used) or InvalidAuthCode (no attempts left).",
        429: "RateLimited; see Retry-After.",
        503: "ServiceUnavailable: SMS delivery or storage failed.",
    }.items()
}
# The body limit answers before any route, in the problem+json shape of the rest of the service.
BODY_TOO_LARGE = errors(413)


class VerificationCreateRequest(ApiModel):
    """Flowroute sms-verification's body; numbers are accepted for `auth_id` and `recipient` as it did."""

    model_config = ConfigDict(extra="forbid")
    auth_id: StrictStr | StrictInt = Field(description="Your identifier for this verification, 1..120 chars.")
    recipient: StrictStr | StrictInt = Field(description="E.164 (+4915112345678) or 11-digit 1XXXXXXXXXX.")
    code_length: StrictInt | None = Field(default=None, description="4..10 digits.")
    expiration: StrictInt | None = Field(
        default=None, description="Seconds, 30..TWOSTEP_VERIFY_MAX_TTL_SECONDS."
    )
    retries: StrictInt | None = Field(default=None, description="Wrong codes allowed, 1..10.")
    message: StrictStr | None = Field(
        default=None, description="SMS text with {code}; {org} and {minutes} are filled in too."
    )
    channel: StrictStr = Field(
        default="sms",
        max_length=20,
        description="`sms` (default), `voice` (a call reads the code aloud) or `whatsapp`, where the "
        "service configures it; another answers 400 with `code` channel_not_configured.",
    )
    amount: StrictStr | None = Field(
        default=None,
        description="With `payee`: the amount this code confirms, like `49.90 EUR` (up to 3 decimals, "
        "ISO 4217 currency); shown in the text and bound to the code (PSD2 dynamic linking).",
    )
    payee: StrictStr | None = Field(
        default=None,
        description="With `amount`: who is paid, 1..64 printable characters; the check must present both.",
    )
    locale: LocaleField = None


class FlowrouteCreateRequest(VerificationCreateRequest):
    """The create body in Flowroute compatibility mode: keys it does not know are ignored, as Flowroute's
    service read `auth_id` and `recipient` and nothing else (callers that send more kept working)."""

    model_config = ConfigDict(extra="ignore")


class VerificationCreatedOut(ApiModel):
    message: str
    auth_id: str
    expires_at: datetime
    attempts_left: int


class VerificationSuccessOut(ApiModel):
    authenticated: Literal[True]
    auth_id: str
    message: str


def open_without_keys(settings: Settings) -> bool:
    """Keyless calls are allowed only in dev with nothing but the console provider on every channel: no
    real message goes out."""
    return settings.stage == "dev" and registry.configured_providers(settings) == {"console"}


def api_keys_missing(settings: Settings) -> bool:
    """True when API keys are needed (a real provider, or not dev) and none are configured."""
    configured = bool(settings.verify_api_keys) or settings.verify_api_keys_file is not None
    return not configured and not open_without_keys(settings)


def key_tenant(request: Request, container: Container, presented: str | None) -> Tenant | None:
    """The tenant the presented API key names, or None; looked up once per request (an `Idempotency-Key`
    scope needs it before the endpoint's dependencies ask again)."""
    if presented is None:
        return None
    known: tuple[str, Tenant | None] | None = getattr(request.state, _KEY_TENANT, None)
    if known is not None and known[0] == presented:
        return known[1]
    tenant = container.tenants.find(presented)
    setattr(request.state, _KEY_TENANT, (presented, tenant))
    return tenant


async def verification_context(
    request: Request,
    container: ContainerDep,
    ctx: ContextDep,
    presented: Annotated[str | None, Security(api_key_header)] = None,
) -> RequestContext:
    """The caller with its tenant, named by its API key.

    Raises: ApiKeyRequired when keys are needed and none matches (see `open_without_keys`).
    """
    if not container.tenants.has_keys:
        if open_without_keys(container.settings):
            return ctx
        raise ApiKeyRequired("The verification API is not enabled on this service.")
    tenant = key_tenant(request, container, presented)
    if tenant is None:
        raise ApiKeyRequired()
    return replace(ctx, tenant=tenant)


CallerDep = Annotated[RequestContext, Depends(verification_context)]


def by_tenant(request: Request, container: Container, _: Any) -> str | None:
    """The tenant the API key names scopes an `Idempotency-Key`; None (no key scope) when the call will be
    refused for its key anyway."""
    if not container.tenants.has_keys:
        return "open" if open_without_keys(container.settings) else None
    tenant = key_tenant(request, container, request.headers.get(api_key_header.model.name))
    return None if tenant is None else f"tenant={tenant.name}"


# The error translation wraps the idempotency (it comes first in the bases): a schema error or a body that
# is not JSON leaves the idempotent handler as an exception, so the key is let go (the request never
# started, as on every other route) and only then becomes the 400 answer.
class VerificationRoute(FlowrouteErrorRoute, IdempotentRoute):
    """Flowroute sms-verification's error shape, and `Idempotency-Key` on the create (its refusals in
    that shape too, with `code`)."""

    refusal_responses = {
        status: {"model": FlowrouteErrorOut, "description": text}
        for status, text in {
            400: "InvalidAPIUsage: bad input, or a bad `Idempotency-Key` (`field`).",
            409: "IdempotencyRequestInProgress: the first request with this Idempotency-Key still runs.",
            422: "IdempotencyKeyReused: this Idempotency-Key was used for another request.",
        }.items()
    }

    @staticmethod
    def render_refusal(error: TwoStepError) -> Response:
        return flowroute_error(error)


class VerificationCompatRoute(FlowrouteCompatRoute, IdempotentRoute):
    """Flowroute compatibility mode (`TWOSTEP_VERIFY_COMPAT=flowroute`): Flowroute's statuses and bodies,
    `Idempotency-Key` refusals included (400, like every refusal there)."""

    refusal_responses = {400: VerificationRoute.refusal_responses[400]}

    @staticmethod
    def render_refusal(error: TwoStepError) -> Response:
        return compat_error(error, "POST")


@idempotent("verification", caller=by_tenant)
def create_verification(
    body: VerificationCreateRequest, container: ContainerDep, ctx: CallerDep
) -> VerificationCreatedOut:
    """Create (or replace) the code for `auth_id` and text it; a re-create keeps the attempts made."""
    created = container.verification.create(
        str(body.auth_id),
        str(body.recipient),
        code_length=body.code_length,
        expiration=body.expiration,
        retries=body.retries,
        message=body.message,
        channel=body.channel,
        ctx=with_locale(ctx, body.locale),
        transaction=Transaction.from_request(body.amount, body.payee),
    )
    return VerificationCreatedOut(
        message="Success: Verification code created.",
        auth_id=created.auth_id,
        expires_at=created.expires_at,
        attempts_left=created.attempts_left,
    )


@idempotent("verification", caller=by_tenant)
def create_verification_flowroute(
    body: FlowrouteCreateRequest, container: ContainerDep, ctx: CallerDep
) -> FlowrouteCreatedOut:
    """Create (or replace) the code for `auth_id` and text it (Flowroute compatibility: its answer's keys
    only, and unknown body keys ignored)."""
    created = create_verification(body, container, ctx)
    return FlowrouteCreatedOut(message=created.message, auth_id=created.auth_id)


# The check's query parameters, each read once: see `refuse_repeated`.
CHECK_PARAMETERS = ("auth_id", "code", "amount", "payee")


def refuse_repeated(request: Request, names: tuple[str, ...]) -> None:
    """Refuse a query parameter given twice instead of picking one of its values.

    Flask (Flowroute's service) read the first value and FastAPI reads the last, so a caller that puts
    what its user typed into the query unencoded (`?auth_id=<its id>&code=<typed>`) would let a typed
    `<my code>&auth_id=<my id>` check the user's own id's code and pass as the caller's; whichever value
    won, a typed `&amount=` or `&payee=` could override the transaction the same way.

    Raises: InvalidInput naming the first repeated parameter.
    """
    for name in names:
        if len(request.query_params.getlist(name)) > 1:
            raise InvalidInput(f"{name} must be given once.", field=name)


def check_verification(
    request: Request,
    container: ContainerDep,
    ctx: CallerDep,
    auth_id: Annotated[str, Query(max_length=1000)],
    code: Annotated[str, Query(max_length=100)],
    amount: Annotated[
        str | None, Query(max_length=100, description="As created (transaction codes).")
    ] = None,
    payee: Annotated[str | None, Query(max_length=200, description="As created (transaction codes).")] = None,
) -> VerificationSuccessOut:
    """Check the code for `auth_id`; a right code works once, and a transaction's code only with the
    same `amount` and `payee` (different ones answer as a wrong code)."""
    refuse_repeated(request, CHECK_PARAMETERS)
    transaction = Transaction.from_request(amount, payee)
    checked = container.verification.check(auth_id, code, ctx, transaction)
    return VerificationSuccessOut(
        authenticated=True, auth_id=checked.auth_id, message="Success: Authorization code verified."
    )


def verification_router(
    settings: Settings, path: str = "/verifications", *, flowroute_statuses: bool = False
) -> APIRouter:
    """The two routes at `path`, with Flowroute sms-verification's error shape and the API-key check.

    `flowroute_statuses`: answer with the original service's statuses too (400 for every refusal) and
    its create body (see `verification_compat`); otherwise the precise statuses (401, 404, 410, 429)."""
    if not settings.verify_api_keys and settings.verify_api_keys_file is None:
        if open_without_keys(settings):
            logger.warning(
                "verification API is open: no TWOSTEP_VERIFY_API_KEYS (allowed in dev with the console "
                "provider only)"
            )
        else:
            logger.warning(
                "verification API refuses every call: TWOSTEP_VERIFY_API_KEYS is not set and a real SMS "
                "provider is configured (or the stage is not dev)"
            )
    if flowroute_statuses:
        router = APIRouter(tags=["verification"], route_class=VerificationCompatRoute)
        router.add_api_route(
            path,
            create_verification_flowroute,
            methods=["POST"],
            response_model=FlowrouteCreatedOut,
            responses={
                **BODY_TOO_LARGE,
                400: ERRORS[400] | {"description": "Every refusal (Flowroute's status)."},
            },
        )
    else:
        router = APIRouter(tags=["verification"], route_class=VerificationRoute)
        router.add_api_route(
            path,
            create_verification,
            methods=["POST"],
            response_model=VerificationCreatedOut,
            responses=ERRORS | BODY_TOO_LARGE,
        )
    router.add_api_route(
        path, check_verification, methods=["GET"], response_model=VerificationSuccessOut, responses=ERRORS
    )
    return router

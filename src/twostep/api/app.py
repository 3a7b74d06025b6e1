"""The FastAPI application: one factory for `twostep serve`, the Lambda handler and the tests."""

from __future__ import annotations

from fastapi import FastAPI

from twostep import __version__
from twostep.api import (
    routes_account_lifecycle,
    routes_accounts,
    routes_factors,
    routes_health,
    routes_messages,
    routes_receipts,
    routes_sessions,
    routes_signin_factors,
    routes_tokens,
    routes_wellknown,
)
from twostep.api.cors import Cors
from twostep.api.docs_pages import install_docs
from twostep.api.errors import install_error_handlers
from twostep.api.lifespan import Lifespan
from twostep.api.request_middleware import install_request_middleware
from twostep.api.responses import BEARER_SCHEME, complete_document
from twostep.api.routes_adopted import adopt_routes
from twostep.api.routes_verification import verification_router
from twostep.api.routes_verification_cancel import verification_cancel_router
from twostep.api.routes_verification_status import verification_status_router
from twostep.api.routes_web import install_web
from twostep.api.slash_redirect import install_slash_redirect
from twostep.container import Container
from twostep.domain.password_policy import min_password_length

# What the web UI and API clients send; template.yaml's HTTP API CORS names the same (a test checks).
CORS_ALLOW_HEADERS = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "X-Api-Key",
    "X-Request-Id",
    "X-Twostep-Client",
]


def create_app(container: Container, *, lifespan: Lifespan | None = None) -> FastAPI:
    """The full accounts API over an already built container (`lifespan`: see `api.lifespan`)."""
    app = FastAPI(
        lifespan=lifespan,
        title="twostep",
        version=__version__,
        description="Sign-in with a password and a one-time code by SMS; JWTs; SMS verification API.",
        docs_url=None,  # install_docs serves them from local assets
        redoc_url=None,
    )
    app.state.container = container
    install_error_handlers(app)
    for module in (
        routes_accounts,
        routes_account_lifecycle,
        routes_signin_factors,
        routes_factors,
        routes_tokens,
        routes_sessions,
        routes_messages,
        routes_wellknown,
        routes_health,
        routes_receipts,
    ):
        adopt_routes(app, module.router)
    adopt_routes(app, verification_status_router())  # before the create/check routes' path
    adopt_routes(app, verification_router(container.settings))
    adopt_routes(app, verification_cancel_router())
    install_docs(app, container.settings)
    # Last, so API routes win; the UI's new-password fields ask the length the API will take.
    needs_second_factor = container.settings.require_second_factor
    install_web(app, password_min_length=min_password_length(require_second_factor=needs_second_factor))
    install_slash_redirect(app)
    install_request_middleware(app)
    _add_cors(app, container)  # outermost: the request middleware's own answers (413, 500) carry CORS too
    complete_document(app, {"bearerAuth": BEARER_SCHEME})  # the scheme protected routes name
    return app


def cors_allow_methods(app: FastAPI) -> list[str]:
    """Every method the app's routes answer, so a browser on a listed origin may call each of them (a
    hand-kept list left out PUT, and with it `PUT /me/locale`). HEAD is a GET's; no preflight asks for it.
    template.yaml's HTTP API CORS names the same (a test checks)."""
    methods = {method for route in app.routes for method in getattr(route, "methods", None) or ()}
    return sorted(methods - {"HEAD"})


def _credentials_allowed(origins: list[str]) -> bool:
    """Whether browsers may send the refresh and device cookies cross-origin: only to listed origins.

    With `*` and credentials, Starlette names whichever origin asks as allowed with credentials, so any
    page passed the preflight with `X-Twostep-Client: web` (the header that keeps other sites from the
    cookie) and read the tokens a refresh gave; API Gateway refuses that pairing outright. `*` allows
    every origin's bearer-token calls, never the cookie.
    """
    return "*" not in origins


def _add_cors(app: FastAPI, container: Container) -> None:
    """Headers on real responses too (the Lambda JWT tutorial had them only on the preflight); listed origins only."""
    origins = container.settings.cors_origins
    if origins:
        app.add_middleware(
            Cors,
            allow_origins=origins,
            allow_credentials=_credentials_allowed(origins),
            allow_methods=cors_allow_methods(app),
            allow_headers=CORS_ALLOW_HEADERS,
            expose_headers=[
                "Idempotent-Replayed",
                "Retry-After",
                "RateLimit-Policy",
                "RateLimit",
                "X-Request-Id",
            ],
            max_age=600,
        )

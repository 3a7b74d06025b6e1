"""`twostep serve --app verification`: only the SMS verification API, at `/`, as Flowroute's sms-verification served it.

Flowroute's `SMSAuthClient(endpoint)` posts to and gets from the endpoint's root, so it works unchanged.
"""

from __future__ import annotations

from fastapi import FastAPI

from twostep import __version__
from twostep.api import routes_health, routes_receipts
from twostep.api.docs_pages import install_docs
from twostep.api.errors import install_error_handlers
from twostep.api.lifespan import Lifespan
from twostep.api.request_middleware import install_request_middleware
from twostep.api.responses import complete_document
from twostep.api.routes_adopted import adopt_routes
from twostep.api.routes_verification import api_keys_missing, verification_router
from twostep.api.routes_verification_cancel import verification_cancel_router
from twostep.api.routes_verification_status import verification_status_router
from twostep.api.slash_redirect import install_slash_redirect
from twostep.container import Container
from twostep.domain.errors import ConfigurationError
from twostep.settings import Settings


def check_verification_settings(settings: Settings) -> None:
    """Refuse to serve the verification API alone without API keys, unless only the console provider runs
    in dev (checked before anything is built).

    Raises:
        ConfigurationError: anyone could make the service text any number otherwise (Flowroute sms-verification's weakness).
    """
    if api_keys_missing(settings):
        why = (
            f"TWOSTEP_STAGE={settings.stage}"
            if settings.stage != "dev"
            else f"TWOSTEP_SMS_PROVIDERS={','.join(settings.sms_providers)} (a real provider)"
        )
        if settings.stage == "dev" and settings.sms_providers == ["console"]:
            why = f"TWOSTEP_CHANNEL_PROVIDERS={','.join(settings.channel_providers or [])} (a real provider)"
        raise ConfigurationError(
            f"TWOSTEP_VERIFY_API_KEYS: required when {why}; a comma-separated list of tenant:key "
            "entries callers send the key of as X-Api-Key"
        )


def create_verification_app(container: Container, *, lifespan: Lifespan | None = None) -> FastAPI:
    """The standalone verification API over a built container.

    Raises:
        ConfigurationError: see `check_verification_settings`.
    """
    settings = container.settings
    check_verification_settings(settings)
    app = FastAPI(
        lifespan=lifespan,
        title="twostep verification",
        version=__version__,
        description="Text a code for an id to a phone number; check it (Flowroute sms-verification's API).",
        docs_url=None,  # install_docs serves them from local assets
        redoc_url=None,
    )
    app.state.container = container
    install_error_handlers(app)
    flowroute = settings.verify_compat == "flowroute"
    adopt_routes(app, verification_status_router(path="/"))
    adopt_routes(app, verification_router(settings, path="/", flowroute_statuses=flowroute))
    adopt_routes(app, verification_cancel_router(path="/"))
    adopt_routes(app, routes_health.router)
    adopt_routes(app, routes_receipts.router)
    install_docs(app, settings)
    install_slash_redirect(app)
    install_request_middleware(app)
    complete_document(app)  # its 413s name the Problem schema too
    return app

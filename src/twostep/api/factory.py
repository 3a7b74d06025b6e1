"""Builds the ASGI app a process serves: the whole API or only the verification API.

`twostep serve` with one worker builds the app in its own process (`build_asgi_app`). With `--workers N`
its supervisor (`worker_supervisor`) starts N uvicorn worker processes that each import
`api_from_environment` or `verification_from_environment` as an app factory: each reads the settings
once, builds its own container (its own storage connections and password-hashing pool) and serves.
"""

from __future__ import annotations

import gc

from fastapi import FastAPI

from twostep.api.app import create_app
from twostep.api.deferred_routes import realize_routes
from twostep.api.lifespan import serving_lifespan
from twostep.api.metrics_prometheus import PrometheusMetrics, install_prometheus
from twostep.api.schema_model import build_models
from twostep.container import build
from twostep.email import refuse_console_email_in_prod
from twostep.settings import Settings, load_settings


def build_asgi_app(settings: Settings, which: str = "api") -> FastAPI:
    """The app over a new container that the app closes when the server shuts down.

    Raises: ConfigurationError and what `container.build` raises.
    """
    if which == "verification":
        from twostep.api.verification_app import check_verification_settings

        check_verification_settings(settings)
    else:
        refuse_console_email_in_prod(settings)  # the verification app sends no email
    metrics = PrometheusMetrics()
    container = build(settings, metrics=metrics)
    lifespan = serving_lifespan(container)
    if which == "verification":
        from twostep.api.verification_app import create_verification_app

        app: FastAPI = create_verification_app(container, lifespan=lifespan)
    else:
        app = create_app(container, lifespan=lifespan)
    # A served worker builds every body model and analyses every route at start, not on its first
    # requests (the Lambda handler does both on first use). Models first: a route's adapter made for a
    # built model reuses the model's core schema; made before it, it builds a copy of its own, and the
    # model its own again (0.5 MiB more resident, the bench's server at start).
    build_models()
    realize_routes(app)
    install_prometheus(app, metrics, container.settings)
    # What start-up made (~80,000 tracked objects: modules, the app, its routes and schemas) lives as long
    # as the process. Frozen, the collector's full passes skip it: one took ~40 ms of a server under the
    # bench's sign-in load. Garbage from start-up is collected first so that none of it is kept. The
    # Lambda handler freezes its app the same way (`aws.api_handler`).
    gc.collect()
    gc.freeze()
    return app


def app_from_environment(which: str) -> FastAPI:
    """The app a worker process of `twostep serve --workers N` builds: settings from the environment.

    Raises: what `build_asgi_app` raises, and pydantic's ValidationError for bad settings.
    """
    from twostep.logs import configure_logging

    settings = load_settings()  # once per worker process
    configure_logging(settings.log_level, settings.log_format)
    return build_asgi_app(settings, which)


def api_from_environment() -> FastAPI:
    """uvicorn app factory of a worker process serving the whole API."""
    return app_from_environment("api")


def verification_from_environment() -> FastAPI:
    """uvicorn app factory of a worker process serving only the verification API."""
    return app_from_environment("verification")

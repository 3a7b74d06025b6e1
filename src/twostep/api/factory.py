"""Builds the ASGI app a process serves: the whole API or only the verification API."""

from __future__ import annotations

from fastapi import FastAPI

from twostep.api.app import create_app
from twostep.container import build
from twostep.settings import Settings


def build_asgi_app(settings: Settings, which: str = "api") -> FastAPI:
    """Raises: ConfigurationError and what `container.build` raises."""
    if which == "verification":
        from twostep.api.verification_app import check_verification_settings

        check_verification_settings(settings)
    container = build(settings)
    if which == "verification":
        from twostep.api.verification_app import create_verification_app

        verification: FastAPI = create_verification_app(container)
        return verification
    return create_app(container)

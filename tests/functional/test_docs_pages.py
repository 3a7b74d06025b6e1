"""The API docs pages: local assets, on in dev, off in prod unless TWOSTEP_API_DOCS=true."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from twostep.api.docs_pages import install_docs
from twostep.api.verification_app import create_verification_app
from twostep.container import Container
from twostep.settings import Settings

PROD = {"stage": "prod", "sms_providers": ["sns"], "email_provider": "ses"}


@pytest.mark.parametrize(
    ("overrides", "served"),
    [({}, True), (PROD, False), ({**PROD, "api_docs": True}, True), ({"api_docs": False}, False)],
)
def test_docs_on_by_stage_and_setting(overrides: dict[str, object], served: bool) -> None:
    app = FastAPI(title="twostep", docs_url=None, redoc_url=None)
    install_docs(app, Settings(_env_file=None, **overrides))  # type: ignore[arg-type]
    with TestClient(app) as client:
        for path in ("/docs", "/redoc", "/docs/assets/redoc.standalone.js"):
            assert (client.get(path).status_code == 200) is served, path
        assert client.get("/openapi.json").status_code == 200


def test_the_full_app_serves_them(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert client.get("/redoc").status_code == 200


def test_verification_app_has_them_too(make_container: Callable[..., Container]) -> None:
    with TestClient(create_verification_app(make_container())) as client:
        page = client.get("/docs")
        assert page.status_code == 200 and "/docs/assets/swagger-ui-bundle.js" in page.text
        nonce = page.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
        assert f'<script nonce="{nonce}">' in page.text

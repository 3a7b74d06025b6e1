"""Fixtures for the SMS provider tests: local provider servers, settings, an httpx client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import boto3
import httpx
import pytest

from tests.conftest import settings_for_tests
from tests.sms.provider_server import aws_answering, start_server  # noqa: F401  (the fixtures, for the tests here)
from twostep.domain.clock import FixedClock
from twostep.domain.ports import SmsSender
from twostep.settings import Settings
from twostep.sms import SenderDeps, build_delivery
from twostep.sms.http import timeout_for
from twostep.storage.memory import MemoryStorage

# Short, so the hanging-server tests stay fast; loopback answers far quicker than this.
TEST_TIMEOUT_SECONDS = 0.5

CREDENTIALS: dict[str, Any] = {
    "twilio_account_sid": "AC0123456789abcdef0123456789abcdef",
    "twilio_auth_token": "twilio-secret-token-1",
    "twilio_from": "+15005550006",
    "flowroute_access_key": "fr-access-key",
    "flowroute_secret_key": "fr-secret-key-2",
    "flowroute_from": "12065550100",
    "sipgate_token_id": "token-ABC123",
    "sipgate_token": "sipgate-secret-3",
    "sipgate_sms_id": "s0",
}
SECRETS = ("twilio-secret-token-1", "fr-secret-key-2", "sipgate-secret-3")


def sms_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """The shared test settings plus provider credentials and a short provider timeout."""
    return settings_for_tests(
        tmp_path, **{"sms_timeout_seconds": TEST_TIMEOUT_SECONDS, **CREDENTIALS, **overrides}
    )


@pytest.fixture
def http_client() -> Iterator[httpx.Client]:
    """What the container builds, minus proxies from the environment (the servers are on loopback)."""
    with httpx.Client(timeout=timeout_for(sms_settings(Path("."))), trust_env=False) as client:
        yield client


@pytest.fixture
def delivery(tmp_path: Path, http_client: httpx.Client) -> Callable[..., SmsSender]:
    """The configured delivery (providers + retry/failover policy) built like the container does."""

    def build(**overrides: Any) -> SmsSender:
        settings = sms_settings(tmp_path, **overrides)
        deps = SenderDeps(outbox=MemoryStorage(), clock=FixedClock(), http=http_client)
        return build_delivery(settings, deps)

    return build


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    """A session with dummy credentials; each request's body is kept as sent on the wire."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SNS"):
        monkeypatch.delenv(name, raising=False)
    session = boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    session.sent = []  # type: ignore[attr-defined]

    def keep(request: Any, **_: Any) -> None:
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        session.sent.append(parse_qs(body))  # type: ignore[attr-defined]

    session.events.register("before-send.sns.Publish", keep)
    yield session

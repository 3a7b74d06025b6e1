"""Sign-in through the API with real HTTP SMS providers on loopback: fail-over, and all providers down."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.sms.conftest import SECRETS, sms_settings
from tests.sms.provider_server import ProviderServer, Reply
from twostep.api.app import create_app
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.domain.models import AuditEvent, Challenge
from twostep.domain.receipts import Delivery
from twostep.sms.http import timeout_for
from twostep.storage.memory import MemoryStorage

PHONE = "+12065551234"
EMAIL = "cem@example.com"
PASSWORD = "correct horse battery staple"
TWILIO_DOWN = Reply.json(
    500, {"code": 20500, "message": "An internal server error has occurred", "status": 500}
)
FLOWROUTE_DOWN = Reply.json(
    503, {"errors": [{"detail": "Service unavailable", "status": 503}]}, "application/vnd.api+json"
)
FLOWROUTE_OK = Reply.json(202, {"data": {"id": "mdr2-1", "type": "message"}}, "application/vnd.api+json")


class ChallengeKeepingStorage(MemoryStorage):
    """Memory storage that remembers which challenges were created (the 503 answer carries no id)."""

    def __init__(self) -> None:
        super().__init__()
        self.created: list[str] = []

    def put_challenge(self, challenge: Challenge) -> None:
        super().put_challenge(challenge)
        self.created.append(challenge.id)

    def store_sent_challenge(
        self, challenge: Challenge, audits: Sequence[AuditEvent], delivery: Delivery | None = None
    ) -> None:
        super().store_sent_challenge(challenge, audits, delivery)
        self.created.append(challenge.id)


@pytest.fixture
def servers() -> Iterator[tuple[ProviderServer, ProviderServer]]:
    """A Twilio and a Flowroute stand-in on loopback."""
    twilio, flowroute = ProviderServer().start(), ProviderServer().start()
    yield twilio, flowroute
    twilio.stop()
    flowroute.stop()


@pytest.fixture
def app(
    tmp_path: Path, servers: tuple[ProviderServer, ProviderServer]
) -> Iterator[tuple[TestClient, Container, ChallengeKeepingStorage]]:
    twilio, flowroute = servers
    settings = sms_settings(
        tmp_path,
        sms_providers=["twilio", "flowroute"],
        twilio_base_url=twilio.url,
        flowroute_base_url=flowroute.url,
    )
    storage = ChallengeKeepingStorage()
    with httpx.Client(timeout=timeout_for(settings), trust_env=False) as http:
        container = build(settings, storage=storage, clock=FixedClock(), http=http)
        with TestClient(create_app(container)) as client:
            yield client, container, storage
        container.close()


def register_and_login(client: TestClient) -> httpx.Response:
    registered = client.post(
        "/register",
        json={
            "firstName": "Cem",
            "lastName": "Onan",
            "email": EMAIL,
            "password": PASSWORD,
            "phoneNumber": PHONE,
        },
    )
    assert registered.status_code == 201, registered.text
    return client.post("/login", json={"email": EMAIL, "password": PASSWORD})


def test_second_provider_delivers_when_the_first_fails_and_the_user_signs_in(
    app: tuple[TestClient, Container, Any], servers: tuple[ProviderServer, ProviderServer]
) -> None:
    client, _, _ = app
    twilio, flowroute = servers
    twilio.always(TWILIO_DOWN)
    flowroute.always(FLOWROUTE_OK)

    login = register_and_login(client)

    assert login.status_code == 200, login.text
    assert len(twilio.requests) == 2  # the original and one retry
    (delivered,) = flowroute.requests
    message = delivered.json()
    assert message["to"] == PHONE.removeprefix("+")
    code = re.match(r"\d+", message["body"])
    assert code is not None
    verified = client.post(f"/otp/{login.json()['otpId']}/verify", json={"otp": code.group(0)})
    assert verified.status_code == 200, verified.text
    assert verified.json()["tokenType"] == "Bearer"


def test_all_providers_down_answers_503_and_leaves_no_usable_code(
    app: tuple[TestClient, Container, ChallengeKeepingStorage], servers: tuple[ProviderServer, ProviderServer]
) -> None:
    client, _container, storage = app
    twilio, flowroute = servers
    twilio.always(TWILIO_DOWN)
    flowroute.always(FLOWROUTE_DOWN)

    login = register_and_login(client)

    assert login.status_code == 503, login.text
    assert login.headers["content-type"].startswith("application/problem+json")
    problem = login.json()
    assert problem["code"] == "sms_delivery_failed"
    assert problem["detail"] == "The text message could not be sent; try again shortly."
    assert "otpId" not in problem
    assert (len(twilio.requests), len(flowroute.requests)) == (2, 2)

    # A new code is stored only once its message went out: none went, so no challenge exists to use.
    assert storage.created == []
    assert re.match(r"\d+", flowroute.requests[0].json()["body"]) is not None  # a code was tried

    events = [event for event in storage.list_audit(limit=50) if event.event == "code_delivery_failed"]
    assert len(events) == 1
    assert events[0].detail.get("reason") == "provider_error"


TWILIO_AUTH = Reply.json(401, {"code": 20003, "message": "Authenticate", "status": 401})


def send_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Every WARNING-or-worse line but the audit trail's."""
    return [r for r in caplog.records if r.levelno >= logging.WARNING and r.name != "twostep.audit"]


def test_a_send_no_provider_took_is_one_log_line(
    app: tuple[TestClient, Container, Any],
    servers: tuple[ProviderServer, ProviderServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before, one sign-in whose text no provider took wrote four warnings or errors (each provider's
    refusal, "sms provider failed", "no sms provider took the message", the API's "dependency
    unavailable"), none naming the number. It is one ERROR line now: each provider's reason and answer,
    the operator's hint and the masked number, no full number, text or credential."""
    client, _, _ = app
    twilio, flowroute = servers
    twilio.always(TWILIO_AUTH)
    flowroute.always(FLOWROUTE_DOWN)
    with caplog.at_level(logging.DEBUG, logger="twostep"):
        assert register_and_login(client).status_code == 503

    (line,) = send_lines(caplog)
    assert (line.levelname, line.getMessage()) == ("ERROR", "sms not sent")
    fields = line.__dict__
    assert fields["provider"] == "twilio,flowroute"
    assert fields["reason"] == "provider_error"
    assert fields["failures"] == (
        "twilio: auth (status 401, provider_code 20003); flowroute: provider_error (status 503)"
    )
    assert fields["hint"] == "check the provider's credentials"
    assert fields["to"] == "+1********34"
    for record in caplog.records:
        for secret in (*SECRETS, PHONE[2:], PASSWORD):
            assert secret not in repr(record.__dict__)


def test_a_send_a_later_provider_took_is_one_warning(
    app: tuple[TestClient, Container, Any],
    servers: tuple[ProviderServer, ProviderServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before, a first provider's failure wrote two warnings (its refusal, "sms provider failed") and an
    INFO line per retry; it is one WARNING now, naming what failed and the masked number."""
    client, _, _ = app
    twilio, flowroute = servers
    twilio.always(TWILIO_DOWN)
    flowroute.always(FLOWROUTE_OK)
    with caplog.at_level(logging.DEBUG, logger="twostep"):
        assert register_and_login(client).status_code == 200

    (line,) = send_lines(caplog)
    assert (line.levelname, line.getMessage()) == ("WARNING", "sms sent after a provider failed")
    assert line.__dict__["failures"] == "twilio: provider_error (status 500, provider_code 20500)"
    assert line.__dict__["to"] == "+1********34"

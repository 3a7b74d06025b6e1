"""AWS dependencies failing while the service runs: DynamoDB going away mid-run (a moto server stopped
and started again) gives 503 and writes nothing; the authorizer with an unreachable secret store never
allows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.adversarial.faultkit import PASSWORD
from tests.conftest import settings_for_tests
from tests.live import free_port
from twostep.api.app import create_app
from twostep.container import build
from twostep.domain.clock import FixedClock
from twostep.storage.memory import MemoryStorage

PHONE = "+905555555555"


def aws_config(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Point boto3 at `endpoint` through its ordinary configuration variables."""
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "2",
        "AWS_RETRY_MODE": "standard",
    }.items():
        monkeypatch.setenv(name, value)


class MotoServer:
    """moto's DynamoDB-compatible server on loopback; its data outlives a stop and start."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.port = free_port()
        self._factory = lambda: ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._server = self._factory()
        self._server.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


@pytest.fixture
def moto() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()


def body(email: str, phone: str) -> dict[str, Any]:
    return {"firstName": "A", "lastName": "B", "email": email, "password": PASSWORD, "phoneNumber": phone}


def test_dynamodb_going_away_mid_run(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, clock: FixedClock
) -> None:
    aws_config(monkeypatch, moto.url)
    outbox = MemoryStorage()
    from twostep.sms.console import ConsoleSender

    settings = settings_for_tests(
        tmp_path,
        storage="dynamodb",
        dynamodb_table="twostep-faults",
        master_key="faults-master-key-0123456789abcdef",  # keys live in the table, sealed with it
    )
    container = build(settings, clock=clock, sender=ConsoleSender(outbox, clock))
    with TestClient(create_app(container), raise_server_exceptions=False) as client:
        assert client.post("/register", json=body("ada@example.com", PHONE)).status_code == 201
        started = client.post("/login", json={"email": "ada@example.com", "password": PASSWORD})
        assert started.status_code == 200
        otp_id, code = started.json()["otpId"], outbox.list_outbox(to=PHONE, last=1)[-1].body.split(" ")[0]

        moto.stop()
        for response in (
            client.post("/register", json=body("bob@example.com", "+905555555556")),
            client.post("/login", json={"email": "ada@example.com", "password": PASSWORD}),
            client.post(f"/otp/{otp_id}/verify", json={"otp": code}),
            client.get("/healthz"),
        ):
            assert response.status_code == 503, response.text
            assert response.json()["code"] == "storage_unavailable"
            assert "accessToken" not in response.text

        moto.start()  # the endpoint is back: nothing was half-written while it was gone
        assert container.storage.find_user_by_email("bob@example.com") is None
        verified = client.post(f"/otp/{otp_id}/verify", json={"otp": code})
        assert verified.status_code == 200, verified.text
    container.close()


def test_authorizer_never_allows_without_its_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from twostep.aws import authorizer

    aws_config(monkeypatch, f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("TWOSTEP_SECRET_ARN", "arn:aws:secretsmanager:us-east-1:123456789012:secret:x")
    monkeypatch.setenv("TWOSTEP_JWT_KEY_FILE", str(tmp_path / "keys.json"))
    token = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsiLCJ0eXAiOiJhdCtqd3QifQ.eyJzdWIiOiJ4In0.c2ln"
    events = [
        {
            "type": "TOKEN",
            "authorizationToken": f"Bearer {token}",
            "methodArn": "arn:aws:x:1:2:a/dev/GET/hello",
        },
        {"version": "2.0", "headers": {"authorization": f"Bearer {token}"}},
    ]
    authorizer.reset()
    try:
        for event in events:
            assert not allowed(authorizer.handler, event)
    finally:
        authorizer.reset()


def allowed(handler: Any, event: dict[str, Any]) -> bool:
    """Whether the authorizer let the request through; any error is a deny at API Gateway."""
    try:
        answer = handler(event)
    except Exception:
        return False
    statements = answer.get("policyDocument", {}).get("Statement", [])
    return answer.get("isAuthorized") is True or any(st.get("Effect") == "Allow" for st in statements)

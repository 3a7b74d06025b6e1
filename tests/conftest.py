"""Shared fixtures: settings for tests, a fixed clock, an in-process container and HTTP client."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

# The PostgreSQL server fixtures, for every test folder (a re-export, so pytest finds them here).
from tests.live import free_port
from tests.postgres_server import postgres_server, postgres_url  # noqa: F401
from twostep.api.app import create_app
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.settings import Settings
from twostep.storage.memory import MemoryStorage

PASSWORD = "correct horse battery staple"
PHONE = "+905555555555"


def settings_for_tests(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings that ignore the developer's environment and `.env`, with everything in `tmp_path`."""
    values: dict[str, Any] = {
        "stage": "dev",
        "storage": "memory",
        "sqlite_path": tmp_path / "twostep.db",
        "jwt_key_file": tmp_path / "keys.json",
        "issuer": "http://testserver",
        "resend_cooldown_seconds": 0,
        "sms_providers": ["console"],
        # The fraud guard's velocity caps and prefix blocking are off unless a test turns them on
        # (tests/fraud does): other suites send many codes from one client to one number block.
        "ip_sms_per_hour": 100_000,
        "account_sms_per_day": 100_000,
        "fraud_guard": False,
    }
    values.update(overrides)
    # Resets asked for per email (a stranger's cannot spend its owner's texts) likewise, as far as the
    # settings allow (below the text caps); tests/limits/test_reset_budget.py sets them.
    if "reset_requests_per_day" not in overrides:
        values["reset_requests_per_day"] = most_resets_a_day(values)
        values.setdefault("reset_requests_per_client_day", values["reset_requests_per_day"])
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def most_resets_a_day(values: dict[str, Any]) -> int:
    """The most resets a day the settings allow with these text caps (the settings refuse as many as any)."""
    caps = ("account_sms_per_day", "sms_per_number_10min", "sms_per_number_day")
    return max(1, min(int(values.get(cap, Settings.model_fields[cap].default)) for cap in caps) - 1)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def make_container(tmp_path: Path, clock: FixedClock) -> Iterator[Callable[..., Container]]:
    """Build a container over memory storage (or the storage named in overrides) with the fixed clock."""
    built: list[Container] = []

    def factory(**overrides: Any) -> Container:
        settings = settings_for_tests(tmp_path, **overrides)
        storage = MemoryStorage() if settings.storage == "memory" else None
        container = build(settings, clock=clock, storage=storage)
        built.append(container)
        return container

    yield factory
    for container in built:
        container.close()


@pytest.fixture
def container(make_container: Callable[..., Container]) -> Container:
    return make_container()


@pytest.fixture
def client(container: Container) -> Iterator[TestClient]:
    with TestClient(create_app(container)) as test_client:
        yield test_client


AWS_TEST_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _serialised_moto_server(port: int) -> Any:
    """moto's ThreadedMotoServer with one request at a time.

    DynamoDB applies each conditional write atomically; moto checks the condition and writes without a
    lock, so two racing requests can both pass a condition. Serialising requests in the server restores
    DynamoDB's per-request atomicity; the clients still race (many threads, many connections), so an
    adapter that decides with a read and a separate write still loses the race tests.
    """
    import threading

    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    class SerialisedMotoServer(ThreadedMotoServer):  # type: ignore[misc]
        def _server_entry(self) -> None:
            inner = DomainDispatcherApplication(create_backend_app)
            lock = threading.Lock()

            def app(environ: Any, start_response: Any) -> list[bytes]:
                with lock:
                    return list(inner(environ, start_response))

            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return SerialisedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on loopback (every AWS service on one port); yields its endpoint URL.

    It changes no environment variable: clients pass `endpoint_url=` (or a test sets `AWS_ENDPOINT_URL`
    with monkeypatch) and dummy credentials (`aws_test_environment` below sets them per test).
    """
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = _serialised_moto_server(free_port())
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def aws_test_environment(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Dummy credentials and the region for boto3, for one test."""
    for name, value in AWS_TEST_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return dict(AWS_TEST_ENVIRONMENT)


@pytest.fixture
def boto3_sessions(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every boto3 session made while the test runs (they are made through `boto3.session.Session`)."""
    import boto3

    made: list[Any] = []
    real = boto3.session.Session

    def counted(*args: Any, **kwargs: Any) -> Any:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(boto3.session, "Session", counted)
    return made


def latest_code(container: Container, phone: str = PHONE) -> str:
    """The last code texted to `phone`, read from the console outbox."""
    entries = container.storage.list_outbox(to=phone, last=1)
    assert entries, f"no SMS to {phone}"
    match = re.match(r"\d+", entries[-1].body)
    assert match is not None
    return match.group(0)


def register(
    client: TestClient, email: str = "test@example.com", phone: str | None = PHONE, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "firstName": "Cem",
        "lastName": "Onan",
        "email": email,
        "password": PASSWORD,
        "phoneNumber": phone,
        **extra,
    }
    if phone is None:
        body.pop("phoneNumber")
    response = client.post("/register", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def sign_in(
    client: TestClient,
    container: Container,
    email: str = "test@example.com",
    phone: str = PHONE,
    remember_device: bool = False,
) -> dict[str, Any]:
    """Password + code; returns the token pair (and the `deviceToken` when `remember_device`)."""
    started = client.post("/login", json={"email": email, "password": PASSWORD})
    assert started.status_code == 200, started.text
    otp_id = started.json()["otpId"]
    verify: dict[str, Any] = {"otp": latest_code(container, phone)}
    if remember_device:
        verify["rememberDevice"] = True
    verified = client.post(f"/otp/{otp_id}/verify", json=verify)
    assert verified.status_code == 200, verified.text
    return dict(verified.json())

"""Shared fixtures: settings for tests, a fixed clock, an in-process container and HTTP client."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

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
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


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
    client: TestClient, container: Container, email: str = "test@example.com", phone: str = PHONE
) -> dict[str, Any]:
    """Password + code; returns the token pair."""
    started = client.post("/login", json={"email": email, "password": PASSWORD})
    assert started.status_code == 200, started.text
    otp_id = started.json()["otpId"]
    verified = client.post(f"/otp/{otp_id}/verify", json={"otp": latest_code(container, phone)})
    assert verified.status_code == 200, verified.text
    return dict(verified.json())


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on a free loopback port for the whole session; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()

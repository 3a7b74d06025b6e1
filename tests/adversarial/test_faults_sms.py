"""Every SMS provider failing or hanging: 503 with a clear message, no usable code left behind, no token.

Providers are real objects behind the `SmsSender` port: `BrokenSender` (down), a switch that fails from
a given moment, and, where the HTTP providers exist, Twilio's adapter against a local server that
answers 500 or never answers within the timeout."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.adversarial.faultkit import PASSWORD, BrokenSender, FaultyProvider, count_rows
from tests.conftest import settings_for_tests
from tests.live import code_in
from twostep.api.app import create_app
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.domain.ports import SmsSender
from twostep.sms.console import ConsoleSender
from twostep.sms.failover import FailoverSender
from twostep.storage.memory import MemoryStorage
from twostep.storage.sqlite import SqliteStorage

PHONE = "+905555555555"


class SwitchableSender:
    """The console provider until `fail()` is called, then down."""

    name = "switchable"

    def __init__(self, healthy: SmsSender) -> None:
        self._healthy = healthy
        self._broken = BrokenSender("timeout")
        self.down = False

    def send(self, to: str, body: str) -> str:
        return (self._broken if self.down else self._healthy).send(to, body)


class PurgingSender:
    """The console provider, with a housekeeping pass run while each message is on its way, as the
    server's background purge may run meanwhile on another thread or worker."""

    name = "purging"

    def __init__(self, healthy: SmsSender) -> None:
        self._healthy = healthy
        self.purge: Callable[[], object] = lambda: None

    def send(self, to: str, body: str) -> str:
        self.purge()
        return self._healthy.send(to, body)


@pytest.fixture
def app_with(tmp_path: Path, clock: FixedClock) -> Iterator[Callable[..., tuple[Container, TestClient]]]:
    built: list[tuple[Container, TestClient]] = []

    def factory(sender: SmsSender | None = None, **overrides: Any) -> tuple[Container, TestClient]:
        storage = SqliteStorage(tmp_path / "twostep.db")
        if sender is None and "sms_providers" not in overrides:
            sender = ConsoleSender(storage, clock)
        container = build(
            settings_for_tests(tmp_path, storage="sqlite", **overrides),
            clock=clock,
            storage=storage,
            sender=sender,
        )
        client = TestClient(create_app(container), raise_server_exceptions=False)
        built.append((container, client))
        return container, client

    yield factory
    for container, client in built:
        client.close()
        container.close()


def register(client: TestClient, email: str = "ada@example.com") -> None:
    body = {"firstName": "Ada", "lastName": "L", "email": email, "password": PASSWORD, "phoneNumber": PHONE}
    assert client.post("/register", json=body).status_code == 201


def assert_delivery_failed(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "sms_delivery_failed"
    assert "could not be sent" in body["detail"]
    assert "accessToken" not in body and "otpId" not in body
    assert PHONE not in response.text


def assert_no_usable_code(container: Container) -> None:
    """A code never delivered can never be used: any challenge that exists is already expired (a new
    sign-in code is stored only once its message went out, so a failed first send stores none)."""
    db = container.settings.sqlite_path
    now = container.clock.now().timestamp()
    live = "SELECT COUNT(*) FROM challenges WHERE consumed_at IS NULL AND expires_at > ?"
    assert count_rows(db, live, (now,)) == 0
    assert count_rows(db, "SELECT COUNT(*) FROM refresh_tokens") == 0


def test_every_provider_down_gives_503_and_no_usable_code(
    app_with: Callable[..., tuple[Container, TestClient]],
) -> None:
    providers = [BrokenSender("provider_error"), BrokenSender("timeout")]
    container, client = app_with(sender=FailoverSender(providers))
    register(client)
    for _ in range(3):
        assert_delivery_failed(client.post("/login", json={"email": "ada@example.com", "password": PASSWORD}))
    assert all(provider.attempts >= 3 for provider in providers)  # each tried, in order, every time
    assert_no_usable_code(container)
    events = [event.event for event in container.audit.tail(limit=100)]
    assert events.count("code_delivery_failed") == 3
    assert "login_succeeded" not in events


def test_resend_failing_kills_the_old_and_the_new_code(
    app_with: Callable[..., tuple[Container, TestClient]], clock: FixedClock
) -> None:
    switch = SwitchableSender(healthy=ConsoleSender(MemoryStorage(), clock))
    container, client = app_with(sender=switch)
    register(client)
    started = client.post("/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert started.status_code == 200
    otp_id = started.json()["otpId"]
    old_code = switch._healthy._outbox.list_outbox(to=PHONE, last=1)[-1].body.split(" ", 1)[0]  # type: ignore[attr-defined]
    switch.down = True
    assert_delivery_failed(client.post(f"/otp/{otp_id}/resend"))
    switch.down = False
    verify = client.post(f"/otp/{otp_id}/verify", json={"otp": old_code})
    assert verify.status_code == 410, verify.text
    assert_no_usable_code(container)


PROVIDER_SETTINGS: dict[str, dict[str, str]] = {
    "twilio": {
        "twilio_account_sid": "AC" + "0" * 32,
        "twilio_auth_token": "t",
        "twilio_from": "+15005550006",
    },
    "flowroute": {"flowroute_access_key": "k", "flowroute_secret_key": "s", "flowroute_from": "+15005550006"},
    "sipgate": {"sipgate_token_id": "token-x", "sipgate_token": "t", "sipgate_sms_id": "s0"},
}


@pytest.mark.parametrize("providers", [["twilio"], ["twilio", "flowroute", "sipgate"]], ids="+".join)
@pytest.mark.parametrize("mode", ["500", "hang"])
def test_http_providers_failing_or_hanging(
    app_with: Callable[..., tuple[Container, TestClient]], mode: str, providers: list[str]
) -> None:
    """Real adapters over HTTP against one local server that answers 500 or not within the timeout."""
    with FaultyProvider(mode, hang_seconds=5) as provider:
        overrides: dict[str, Any] = {"sms_providers": providers, "sms_timeout_seconds": 0.5}
        for name in providers:
            overrides |= PROVIDER_SETTINGS[name]
            overrides[f"{name}_base_url"] = provider.url
        container, client = app_with(**overrides)
        register(client)
        assert_delivery_failed(client.post("/login", json={"email": "ada@example.com", "password": PASSWORD}))
        assert provider.requests >= len(providers)  # every provider was tried
        assert_no_usable_code(container)


def test_verification_api_with_every_provider_down(
    app_with: Callable[..., tuple[Container, TestClient]],
) -> None:
    container, client = app_with(sender=FailoverSender([BrokenSender(), BrokenSender("timeout")]))
    response = client.post("/verifications", json={"auth_id": "order-1", "recipient": PHONE})
    assert response.status_code == 503, response.text
    assert response.json()["reason"] == "ServiceUnavailable"
    assert PHONE not in response.text
    assert_no_usable_code(container)


def test_housekeeping_while_a_code_is_on_its_way_leaves_it_usable(
    app_with: Callable[..., tuple[Container, TestClient]], clock: FixedClock
) -> None:
    """A resent or verification code is stored unusable until its text went out. It was dated long past,
    so a purge running meanwhile deleted it, and the request answered 410 after the text had gone out
    (a 25-minute soak: 1 resend in 45,000)."""
    outbox = MemoryStorage()
    sender = PurgingSender(ConsoleSender(outbox, clock))
    container, client = app_with(sender=sender)
    sender.purge = container.housekeeping.purge_once
    register(client)
    started = client.post("/login", json={"email": "ada@example.com", "password": PASSWORD})
    otp_id = started.json()["otpId"]
    resent = client.post(f"/otp/{otp_id}/resend")
    assert resent.status_code == 202, resent.text
    code = code_in(outbox.list_outbox(to=PHONE, last=1)[-1].body)
    verified = client.post(f"/otp/{otp_id}/verify", json={"otp": code})
    assert verified.status_code == 200, verified.text

    created = client.post("/verifications", json={"auth_id": "order-1", "recipient": PHONE})
    assert created.status_code == 200, created.text
    code = code_in(outbox.list_outbox(to=PHONE, last=1)[-1].body)
    checked = client.get("/verifications", params={"auth_id": "order-1", "code": code})
    assert checked.status_code == 200 and checked.json()["authenticated"] is True, checked.text

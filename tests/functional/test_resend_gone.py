"""`/otp/{id}/resend` on a finished login: expired or used challenges are gone (410), never revived."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, latest_code, register
from twostep.container import Container
from twostep.domain.clock import FixedClock


def _start(client: TestClient) -> str:
    started = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
    assert started.status_code == 200, started.text
    return str(started.json()["otpId"])


def test_resend_of_an_expired_login_is_gone(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    register(client)
    otp_id = _start(client)
    clock.advance(container.settings.otp_ttl_seconds)
    for _ in range(3):  # asking again never brings it back
        gone = client.post(f"/otp/{otp_id}/resend")
        assert gone.status_code == 410 and gone.json()["code"] == "code_expired"
    assert client.post(f"/otp/{otp_id}/verify", json={"otp": latest_code(container)}).status_code == 410


def test_resend_of_a_used_login_is_gone(client: TestClient, container: Container) -> None:
    register(client)
    otp_id = _start(client)
    assert client.post(f"/otp/{otp_id}/verify", json={"otp": latest_code(container)}).status_code == 200
    gone = client.post(f"/otp/{otp_id}/resend")
    assert gone.status_code == 410 and gone.json()["code"] == "code_used"


def test_resend_of_a_live_login_still_works(client: TestClient, container: Container) -> None:
    register(client)
    otp_id = _start(client)
    assert client.post(f"/otp/{otp_id}/resend").status_code == 202

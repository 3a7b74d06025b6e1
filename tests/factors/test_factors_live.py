"""Second factors black-box against a live `twostep serve`: authenticator-app enrolment and sign-in
with no SMS sent, replay refused, recovery codes single use, the SMS fallback, and remembered devices
skipping the second factor until revoked."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from tests.live import ServerProcess

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("factors")) as live:
        yield live


class Person:
    """One account on the live server, with helpers for its sign-ins."""

    def __init__(self, live: ServerProcess, number: int) -> None:
        self.live = live
        self.email = f"factors.{uuid.uuid4().hex[:8]}@example.com"
        self.phone = f"+1202555{number:04d}"
        self.http = httpx.Client(base_url=live.base_url, timeout=20)
        created = self.http.post(
            "/register",
            json={
                "firstName": "Ada",
                "lastName": "L",
                "email": self.email,
                "password": PASSWORD,
                "phoneNumber": self.phone,
            },
        )
        assert created.status_code == 201, created.text

    def texts(self) -> int:
        return len(self.live.outbox(self.phone))

    def login(self, **extra: Any) -> dict[str, Any]:
        response = self.http.post("/login", json={"email": self.email, "password": PASSWORD, **extra})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def verify(self, otp_id: str, **body: Any) -> httpx.Response:
        return self.http.post(f"/otp/{otp_id}/verify", json=body)

    def sign_in_by_sms(self, **extra: Any) -> dict[str, Any]:
        started = self.login()
        verified = self.verify(started["otpId"], otp=self.live.latest_code(self.phone), **extra)
        assert verified.status_code == 200, verified.text
        return dict(verified.json())


def auth(pair: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['accessToken']}"}


def next_code(totp: pyotp.TOTP) -> str:
    """The app's code for the next 30-second step: still inside the allowed drift, and never the step
    already spent confirming the app (which a replay check rightly refuses)."""
    return totp.at(time.time() + totp.interval)


def enrol(person: Person) -> tuple[pyotp.TOTP, list[str], dict[str, Any]]:
    pair = person.sign_in_by_sms()
    started = person.http.post("/me/factors/totp", json={"currentPassword": PASSWORD}, headers=auth(pair))
    assert started.status_code == 200, started.text
    totp = pyotp.parse_uri(started.json()["otpauthUri"])
    assert isinstance(totp, pyotp.TOTP) and totp.secret == started.json()["secret"]
    confirmed = person.http.post("/me/factors/totp/confirm", json={"code": totp.now()}, headers=auth(pair))
    assert confirmed.status_code == 200, confirmed.text
    return totp, confirmed.json()["recoveryCodes"], pair


def test_authenticator_app_sign_in_sends_no_sms_and_refuses_a_replay(server: ServerProcess) -> None:
    person = Person(server, 7001)
    totp, codes, _ = enrol(person)
    assert len(codes) == 10
    texts = person.texts()
    started = person.login()
    assert started["expectedFactor"] == "totp" and "sms" in started["factors"]
    code = next_code(totp)
    signed = person.verify(started["otpId"], otp=code)
    assert signed.status_code == 200, signed.text
    assert signed.json()["amr"] == ["pwd", "otp"]
    assert person.texts() == texts, "no text message was sent for an app sign-in"
    assert person.http.get("/me", headers=auth(signed.json())).status_code == 200

    replay = person.verify(person.login()["otpId"], otp=code, factor="totp")
    assert replay.status_code == 401 and replay.json()["code"] == "wrong_code"


def test_recovery_codes_work_once(server: ServerProcess) -> None:
    person = Person(server, 7002)
    _, codes, _ = enrol(person)
    first = person.verify(person.login()["otpId"], otp=codes[0], factor="recovery")
    assert first.status_code == 200, first.text
    assert first.json()["recoveryCodesLeft"] == 9
    again = person.verify(person.login()["otpId"], otp=codes[0], factor="recovery")
    assert again.status_code == 401


def test_sms_fallback_when_the_app_is_not_at_hand(server: ServerProcess) -> None:
    person = Person(server, 7003)
    enrol(person)
    started = person.login()
    texts = person.texts()
    sent = person.http.post(f"/otp/{started['otpId']}/send", json={"channel": "sms"})
    assert sent.status_code == 202, sent.text
    assert person.texts() == texts + 1
    signed = person.verify(started["otpId"], otp=server.latest_code(person.phone))  # factor: now the SMS
    assert signed.status_code == 200, signed.text
    assert signed.json()["amr"] == ["pwd", "sms"]


def test_a_remembered_device_skips_the_second_factor_until_forgotten(server: ServerProcess) -> None:
    person = Person(server, 7004)
    pair = person.sign_in_by_sms(rememberDevice=True)
    token = pair["deviceToken"]
    texts = person.texts()
    skipped = person.login(deviceToken=token)
    assert "accessToken" in skipped and "otpId" not in skipped
    assert person.texts() == texts, "no code for a remembered device"
    devices = person.http.get("/me/devices", headers=auth(skipped)).json()
    assert [d["label"] for d in devices] == [devices[0]["label"]] and devices[0]["label"]
    forgotten = person.http.post(f"/me/devices/{devices[0]['id']}/forget", headers=auth(skipped))
    assert forgotten.status_code == 204
    asked = person.login(deviceToken=token)
    assert "otpId" in asked and person.texts() == texts + 1


def test_a_remembered_device_survives_a_restart(tmp_path: Path) -> None:
    """The device is stored (hashed), not held in the process: its token still works after a restart."""
    with ServerProcess(tmp_path / "first") as first:
        person = Person(first, 7005)
        token = person.sign_in_by_sms(rememberDevice=True)["deviceToken"]
        env = first.env
    with ServerProcess(tmp_path / "first", env=env) as second:
        person.live, person.http = second, httpx.Client(base_url=second.base_url, timeout=20)
        assert "accessToken" in person.login(deviceToken=token)


def test_a_password_reset_forgets_remembered_devices(server: ServerProcess) -> None:
    person = Person(server, 7006)
    token = person.sign_in_by_sms(rememberDevice=True)["deviceToken"]
    assert "accessToken" in person.login(deviceToken=token)
    forgot = person.http.post("/password/forgot", json={"email": person.email, "channel": "sms"})
    assert forgot.status_code == 202, forgot.text
    new_password = "a whole new passphrase 42"
    reset = person.http.post(
        "/password/reset",
        json={
            "resetId": forgot.json()["resetId"],
            "code": server.latest_code(person.phone),
            "newPassword": new_password,
        },
    )
    assert reset.status_code == 204, reset.text
    again = person.http.post(
        "/login", json={"email": person.email, "password": new_password, "deviceToken": token}
    )
    assert again.status_code == 200 and "otpId" in again.json(), (
        "after a reset the device must prove itself again"
    )

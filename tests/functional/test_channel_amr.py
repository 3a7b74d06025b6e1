"""The `amr` of a sign-in names how its code went (RFC 8176): `tel` after a voice call, `sms` for a text
or a WhatsApp message; the method is that of the code used, not of the first one sent."""

from __future__ import annotations

import re

import jwt
import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, register
from twostep.container import Container


def sent_code(container: Container) -> str:
    """The digits of the last message to PHONE, whatever its channel (a call reads them comma-separated)."""
    (entry,) = container.storage.list_outbox(to=PHONE, last=1)
    match = re.search(r"\d(?:, \d)+|\d{4,}", entry.body)
    assert match is not None, entry.body
    return match.group(0).replace(", ", "")


def start(client: TestClient) -> str:
    register(client)
    started = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
    assert started.status_code == 200, started.text
    return str(started.json()["otpId"])


def verify(client: TestClient, container: Container, otp_id: str) -> list[str]:
    verified = client.post(f"/otp/{otp_id}/verify", json={"otp": sent_code(container)})
    assert verified.status_code == 200, verified.text
    claims = jwt.decode(verified.json()["accessToken"], options={"verify_signature": False})
    assert claims["amr"] == verified.json()["amr"]
    return list(claims["amr"])


@pytest.mark.parametrize(("channel", "amr"), [("voice", ["pwd", "tel"]), ("whatsapp", ["pwd", "sms"])])
def test_the_amr_names_the_channel_the_code_went_by(
    client: TestClient, container: Container, channel: str, amr: list[str]
) -> None:
    otp_id = start(client)
    assert client.post(f"/otp/{otp_id}/send", json={"channel": channel}).status_code == 202

    assert verify(client, container, otp_id) == amr


def test_a_texted_code_after_a_call_signs_in_with_sms(client: TestClient, container: Container) -> None:
    otp_id = start(client)
    assert client.post(f"/otp/{otp_id}/send", json={"channel": "voice"}).status_code == 202
    assert client.post(f"/otp/{otp_id}/send", json={"channel": "sms"}).status_code == 202

    assert verify(client, container, otp_id) == ["pwd", "sms"]


def test_a_plain_sign_in_stays_sms(client: TestClient, container: Container) -> None:
    assert verify(client, container, start(client)) == ["pwd", "sms"]


def test_a_later_sign_in_names_the_channel_too(client: TestClient, container: Container) -> None:
    """An account's later sign-ins use a right code in the request that opens the session: the `amr`
    comes from the challenge as read, and is the same."""
    assert verify(client, container, start(client)) == ["pwd", "sms"]  # proves the number
    started = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
    otp_id = str(started.json()["otpId"])
    assert client.post(f"/otp/{otp_id}/send", json={"channel": "voice"}).status_code == 202

    assert verify(client, container, otp_id) == ["pwd", "tel"]

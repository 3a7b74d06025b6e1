"""`POST /otp/{otpId}/resend` takes the `channel` of `/otp/{otpId}/send`: a call or a WhatsApp message
instead of a text, the same 400 for a channel not carried here (nothing sent, stored or counted), the
same caps, and an Idempotency-Key replay that sends nothing."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, PHONE, register
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.clock import FixedClock


def start(client: TestClient) -> str:
    register(client)
    started = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
    assert started.status_code == 200, started.text
    return str(started.json()["otpId"])


def channels(container: Container) -> list[str]:
    return [entry.channel for entry in container.storage.list_outbox(to=PHONE, last=50)]


def test_a_resend_goes_by_the_chosen_channel(make_container: Callable[..., Container]) -> None:
    container = make_container()
    with TestClient(create_app(container)) as client:
        otp_id = start(client)
        for channel in ("voice", "whatsapp", "sms"):
            answer = client.post(f"/otp/{otp_id}/resend", json={"channel": channel})
            assert answer.status_code == 202, answer.text
        assert client.post(f"/otp/{otp_id}/resend").status_code == 202  # no body: a text, as before
    assert channels(container) == ["sms", "voice", "whatsapp", "sms", "sms"]


def test_an_unconfigured_channel_is_refused_before_anything_is_sent_or_counted(
    make_container: Callable[..., Container],
) -> None:
    # Two texts per number: the login's and one more; refused resends must not use the second.
    container = make_container(channel_providers=["whatsapp:console"], sms_per_number_10min=2)
    with TestClient(create_app(container)) as client:
        otp_id = start(client)
        for channel in ("voice", "pigeon", "voice"):
            refused = client.post(f"/otp/{otp_id}/resend", json={"channel": channel})
            assert refused.status_code == 400, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["code"] == "channel_not_configured"
        assert channels(container) == ["sms"]
        assert client.post(f"/otp/{otp_id}/resend", json={"channel": "whatsapp"}).status_code == 202
    assert channels(container) == ["sms", "whatsapp"]


def test_a_resent_call_counts_against_the_same_caps(
    make_container: Callable[..., Container], clock: FixedClock
) -> None:
    container = make_container(sms_per_number_10min=2, resend_cooldown_seconds=30)
    with TestClient(create_app(container)) as client:
        otp_id = start(client)
        cooling = client.post(f"/otp/{otp_id}/resend", json={"channel": "voice"})
        assert cooling.status_code == 429 and cooling.json()["limit"] == "resend_cooldown"
        clock.advance(31)
        assert client.post(f"/otp/{otp_id}/resend", json={"channel": "voice"}).status_code == 202
        clock.advance(31)
        capped = client.post(f"/otp/{otp_id}/resend", json={"channel": "voice"})
        assert capped.status_code == 429 and capped.json()["limit"] == "sms_per_number_10min", capped.text
    assert channels(container) == ["sms", "voice"]


def test_a_replayed_resend_calls_once(make_container: Callable[..., Container]) -> None:
    container = make_container()
    with TestClient(create_app(container)) as client:
        otp_id = start(client)
        key = {"Idempotency-Key": "resend-by-voice-1"}
        first = client.post(f"/otp/{otp_id}/resend", json={"channel": "voice"}, headers=key)
        again = client.post(f"/otp/{otp_id}/resend", json={"channel": "voice"}, headers=key)
        other = client.post(f"/otp/{otp_id}/resend", json={"channel": "sms"}, headers=key)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert other.status_code == 422  # the same key with another channel is another request
    assert channels(container) == ["sms", "voice"]


def test_the_login_answer_names_the_channels_a_code_can_go_by(
    make_container: Callable[..., Container],
) -> None:
    for overrides, expected in (
        ({}, ["sms", "voice", "whatsapp"]),
        ({"channel_providers": ["whatsapp:console"]}, ["sms", "whatsapp"]),
    ):
        with TestClient(create_app(make_container(**overrides))) as client:
            register(client)
            started = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
        assert started.status_code == 200 and started.json()["channels"] == expected, started.text

"""Delivery receipts against a live `twostep serve`: codes texted through a Twilio (or Flowroute) stand-in
on loopback, then that provider's receipts posted back as the provider would (signed, or with the
secret URL), and what the verification API's status and the audit trail show afterwards."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import pytest

from tests.functional.test_metrics import samples
from tests.live import ServerProcess, server_env
from tests.sms.provider_server import ProviderServer, Reply
from twostep.client import SMSAuthClient, SMSAuthError

TOKEN = "twilio-receipts-token"
API_KEY = "receipts-test-key-0123456789"
SECRET = "flowroute-receipt-secret-0123456789"
PHONE = "+4915112345678"


def twilio_sign(url: str, form: dict[str, str], token: str = TOKEN) -> str:
    """Twilio's signature, written here from its documentation (not the code under test)."""
    payload = url + "".join(f"{name}{form[name]}" for name in sorted(form))
    return base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


@pytest.fixture(scope="module")
def provider() -> Iterator[ProviderServer]:
    server = ProviderServer().start()
    try:
        yield server
    finally:
        server.stop()


def _serve(workdir: Path, provider: ProviderServer, **extra: str) -> ServerProcess:
    process = ServerProcess(workdir)
    process.env = server_env(workdir, process.port) | {
        "TWOSTEP_VERIFY_API_KEYS": f"shop:{API_KEY}",
        "TWOSTEP_PUBLIC_URL": process.base_url,
        "NO_PROXY": "127.0.0.1",
        **extra,
    }
    return process


@pytest.fixture(scope="module")
def twilio_server(
    tmp_path_factory: pytest.TempPathFactory, provider: ProviderServer
) -> Iterator[ServerProcess]:
    process = _serve(
        tmp_path_factory.mktemp("twilio-receipts"),
        provider,
        TWOSTEP_SMS_PROVIDERS="twilio",
        TWOSTEP_TWILIO_ACCOUNT_SID="AC0123456789abcdef0123456789abcdef",
        TWOSTEP_TWILIO_AUTH_TOKEN=TOKEN,
        TWOSTEP_TWILIO_FROM="+15005550006",
        TWOSTEP_TWILIO_BASE_URL=provider.url,
    )
    with process:
        yield process


def client(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, headers={"X-Api-Key": API_KEY}, trust_env=False, timeout=30)


def create(server: ServerProcess, provider: ProviderServer, auth_id: str, reply: Reply) -> dict[str, Any]:
    """Create a verification whose text the provider stand-in takes with `reply`; the request it got."""
    provider.answer(reply)
    before = len(provider.requests)
    with client(server) as api:
        created = api.post("/verifications", json={"auth_id": auth_id, "recipient": PHONE})
    assert created.status_code == 200, created.text
    assert len(provider.requests) == before + 1
    return {"request": provider.requests[-1]}


def status(server: ServerProcess, auth_id: str) -> dict[str, Any]:
    with client(server) as api:
        answer = api.get("/verifications/status", params={"auth_id": auth_id})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def post_twilio(server: ServerProcess, form: dict[str, str], signature: str | None = None) -> httpx.Response:
    url = f"{server.base_url}/receipts/twilio"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    headers["X-Twilio-Signature"] = twilio_sign(url, form) if signature is None else signature
    return httpx.post(url, content=urlencode(form), headers=headers, trust_env=False, timeout=30)


def message_form(sid: str, state: str, **extra: str) -> dict[str, str]:
    """What Twilio posts for a message status (its documented fields)."""
    return {
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "ApiVersion": "2010-04-01",
        "From": "+15005550006",
        "MessageSid": sid,
        "MessageStatus": state,
        "SmsSid": sid,
        "SmsStatus": state,
        "To": PHONE,
        **extra,
    }


def audit_events(server: ServerProcess) -> list[dict[str, Any]]:
    result = server.cli("audit", "tail", "--json", "--last", "200")
    assert result.returncode == 0, result.stderr
    events: list[dict[str, Any]] = json.loads(result.stdout)
    return events


def test_twilio_is_asked_for_receipts_and_a_delivered_receipt_shows(
    twilio_server: ServerProcess, provider: ProviderServer
) -> None:
    sent = create(
        twilio_server, provider, "order-1", Reply.json(201, {"sid": "SMdelivered1", "status": "queued"})
    )
    fields = parse_qs(sent["request"].body.decode())
    assert fields["StatusCallback"] == [f"{twilio_server.base_url}/receipts/twilio"]
    assert status(twilio_server, "order-1")["delivery"]["status"] == "sent"

    assert post_twilio(twilio_server, message_form("SMdelivered1", "sent")).json() == {"outcome": "unchanged"}
    answer = post_twilio(twilio_server, message_form("SMdelivered1", "delivered"))
    assert answer.status_code == 200 and answer.json() == {"outcome": "recorded"}
    shown = status(twilio_server, "order-1")
    assert shown["status"] == "pending" and shown["attempts_left"] == 3
    assert shown["delivery"]["status"] == "delivered" and shown["delivery"]["provider"] == "twilio"
    assert shown["delivery"]["channel"] == "sms" and shown["delivery"]["error_code"] is None
    with SMSAuthClient(f"{twilio_server.base_url}/verifications", api_key=API_KEY) as sdk:
        assert sdk.auth_status("order-1")["delivery"]["status"] == "delivered"
        with pytest.raises(SMSAuthError) as unknown:
            sdk.auth_status("never-created")
    assert unknown.value.status == 404 and unknown.value.reason == "UnknownAuthId"

    # Replayed, late and contradicting receipts change nothing.
    for state in ("delivered", "sent", "queued", "undelivered"):
        replay = post_twilio(twilio_server, message_form("SMdelivered1", state, ErrorCode="30003"))
        assert replay.status_code == 200 and replay.json() == {"outcome": "unchanged"}
    assert status(twilio_server, "order-1")["delivery"]["status"] == "delivered"
    delivered = [e for e in audit_events(twilio_server) if e["event"] == "code_delivered"]
    assert len(delivered) == 1
    assert delivered[0]["detail"] | {"auth_id": "order-1"} == delivered[0]["detail"]
    assert delivered[0]["detail"]["provider"] == "twilio" and delivered[0]["phone_masked"] != PHONE


def test_an_undelivered_receipt_with_its_error_code(
    twilio_server: ServerProcess, provider: ProviderServer
) -> None:
    create(twilio_server, provider, "order-2", Reply.json(201, {"sid": "SMlost2", "status": "queued"}))
    answer = post_twilio(twilio_server, message_form("SMlost2", "undelivered", ErrorCode="30003"))
    assert answer.json() == {"outcome": "recorded"}
    delivery = status(twilio_server, "order-2")["delivery"]
    assert delivery["status"] == "undelivered" and delivery["error_code"] == "30003"
    failed = [e for e in audit_events(twilio_server) if e["event"] == "code_delivery_failed"]
    assert failed[-1]["detail"]["source"] == "receipt" and failed[-1]["detail"]["error_code"] == "30003"
    found = samples(httpx.get(f"{twilio_server.base_url}/metrics", trust_env=False).text)
    counted = ("twostep_delivery_receipts_total", (("provider", "twilio"), ("status", "undelivered")))
    assert found.get(counted) == 1.0


def test_a_receipt_with_a_bad_signature_is_refused_and_changes_nothing(
    twilio_server: ServerProcess, provider: ProviderServer
) -> None:
    create(twilio_server, provider, "order-3", Reply.json(201, {"sid": "SMforged3", "status": "queued"}))
    form = message_form("SMforged3", "failed")
    url = f"{twilio_server.base_url}/receipts/twilio"
    proxied = "http://proxy.example/receipts/twilio"  # what a Host header behind a proxy would give
    forged = ("", "bm90IGEgc2lnbmF0dXJl", twilio_sign(proxied, form), twilio_sign(url, form, token="other"))
    for signature in forged:
        refused = post_twilio(twilio_server, form, signature)
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "receipt_not_authentic"
    tampered = post_twilio(twilio_server, form | {"MessageStatus": "delivered"}, twilio_sign(url, form))
    assert tampered.status_code == 403
    assert status(twilio_server, "order-3")["delivery"]["status"] == "sent"


def test_unknown_and_malformed_receipts(twilio_server: ServerProcess) -> None:
    unknown = post_twilio(twilio_server, message_form("SMnever", "delivered"))
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_message"
    malformed = post_twilio(twilio_server, {"AccountSid": "AC0123456789abcdef0123456789abcdef"})
    assert malformed.status_code == 400 and malformed.json()["code"] == "invalid_receipt"
    assert "application/problem+json" in malformed.headers["content-type"]


def test_flowroute_receipts_with_the_secret_url(tmp_path: Path, provider: ProviderServer) -> None:
    process = _serve(
        tmp_path,
        provider,
        TWOSTEP_SMS_PROVIDERS="flowroute",
        TWOSTEP_FLOWROUTE_ACCESS_KEY="fr-access",
        TWOSTEP_FLOWROUTE_SECRET_KEY="fr-secret-key",
        TWOSTEP_FLOWROUTE_FROM="12065550100",
        TWOSTEP_FLOWROUTE_BASE_URL=provider.url,
        TWOSTEP_RECEIPT_SECRET=SECRET,
    )
    with process:
        accepted = Reply.json(
            202, {"data": {"id": "mdr2-abc123", "type": "message"}}, "application/vnd.api+json"
        )
        sent = create(process, provider, "fr-1", accepted)
        callback = f"{process.base_url}/receipts/flowroute/{SECRET}"
        assert sent["request"].json()["dlr_callback"] == callback

        def dlr(state: str, code: str, level: int = 2, secret: str = SECRET) -> httpx.Response:
            document = {
                "data": {
                    "attributes": {
                        "body": "the text",
                        "level": level,
                        "status": state,
                        "status_code": code,
                        "status_code_description": "carrier says",
                        "timestamp": "2026-11-28T10:00:00.00Z",
                    },
                    "id": "mdr2-abc123",
                    "links": {"related": "https://api.flowroute.com/v2.1/messages/mdr2-abc123"},
                    "type": "delivery_receipt",
                }
            }
            url = f"{process.base_url}/receipts/flowroute/{secret}"
            return httpx.post(url, json=document, trust_env=False, timeout=30)

        assert dlr("delivered", "1000", secret="wrong-secret-0123456789abcdef").status_code == 403
        assert dlr("delivered", "1000", secret=SECRET[:-1]).status_code == 403
        assert status(process, "fr-1")["delivery"]["status"] == "sent"
        assert dlr("smsc submit", "", level=1).json() == {"outcome": "unchanged"}
        assert dlr("message buffered", "1003").json() == {"outcome": "unchanged"}
        assert dlr("delivered", "1000").json() == {"outcome": "recorded"}
        assert dlr("delivery failed", "1203").json() == {"outcome": "unchanged"}
        shown = status(process, "fr-1")["delivery"]
        assert shown["status"] == "delivered" and shown["provider"] == "flowroute"
        broken = httpx.post(
            callback, content=b"{not json", headers={"Content-Type": "application/json"}, trust_env=False
        )
        assert broken.status_code == 400 and broken.json()["code"] == "invalid_receipt"


def test_an_undelivered_text_is_followed_by_a_voice_call_once(
    tmp_path: Path, provider: ProviderServer
) -> None:
    process = _serve(
        tmp_path,
        provider,
        TWOSTEP_SMS_PROVIDERS="twilio",
        TWOSTEP_CHANNEL_PROVIDERS="voice:twilio",
        TWOSTEP_FALLBACK_CHANNELS="voice",
        TWOSTEP_TWILIO_ACCOUNT_SID="AC0123456789abcdef0123456789abcdef",
        TWOSTEP_TWILIO_AUTH_TOKEN=TOKEN,
        TWOSTEP_TWILIO_FROM="+15005550006",
        TWOSTEP_TWILIO_VOICE_FROM="+15005550007",
        TWOSTEP_TWILIO_BASE_URL=provider.url,
        TWOSTEP_RESEND_COOLDOWN_SECONDS="30",  # the fallback does not wait for it
    )
    with process:
        sent = create(process, provider, "call-me", Reply.json(201, {"sid": "SMfails1", "status": "queued"}))
        texted = re.search(r"\b(\d{6})\b", parse_qs(sent["request"].body.decode())["Body"][0])
        assert texted is not None
        before = len(provider.requests)
        provider.answer(Reply.json(201, {"sid": "CAcall1", "status": "queued"}))
        answer = post_twilio(process, message_form("SMfails1", "undelivered", ErrorCode="30003"))
        assert answer.status_code == 200 and answer.json() == {"outcome": "recorded"}
        (call,) = provider.requests[before:]
        assert call.path.endswith("/Calls.json")
        form = parse_qs(call.body.decode())
        assert form["To"] == [PHONE] and form["StatusCallback"] == [f"{process.base_url}/receipts/twilio"]
        # a German number: the bundled German call text, spoken digit by digit
        spoken = re.search(
            r'<Say language="de-DE">Ihr Code für twostep lautet (\d(?:, \d){5})\.</Say>', form["Twiml"][0]
        )
        assert spoken is not None, form["Twiml"][0]
        new_code = spoken.group(1).replace(", ", "")
        shown = status(process, "call-me")
        assert (
            shown["delivery"] | {"channel": "voice", "status": "sent", "provider": "twilio"}
            == shown["delivery"]
        )

        # The same failure again, and the call's own failure: no further message.
        assert post_twilio(process, message_form("SMfails1", "failed")).json() == {"outcome": "unchanged"}
        call_form = {
            "AccountSid": "AC0123456789abcdef0123456789abcdef",
            "CallSid": "CAcall1",
            "CallStatus": "no-answer",
        }
        assert post_twilio(process, call_form).json() == {"outcome": "recorded"}
        assert len(provider.requests) == before + 1
        assert status(process, "call-me")["delivery"]["status"] == "undelivered"

        with client(process) as api:
            if new_code != texted.group(1):
                old = api.get("/verifications", params={"auth_id": "call-me", "code": texted.group(1)})
                assert old.status_code == 401  # the texted code is void
            checked = api.get("/verifications", params={"auth_id": "call-me", "code": new_code})
        assert checked.status_code == 200 and checked.json()["authenticated"] is True
        fallback = [e for e in audit_events(process) if e["event"] == "code_fallback"]
        assert [e["detail"]["outcome"] for e in fallback] == ["sent"]
        assert status(process, "call-me")["status"] == "verified"

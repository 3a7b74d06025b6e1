"""Twilio: the request on the wire and the answers of the real API, against a local HTTP server."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs

from tests.sms.conftest import CREDENTIALS
from tests.sms.provider_server import ProviderServer, Reply
from twostep.domain.ports import SmsSender

TO = "+12065551234"
BODY = "123456 is your twostep sign-in code. It expires in 2 minutes. Don't share it."
SID = CREDENTIALS["twilio_account_sid"]


def created(sid: str = "SM0123456789abcdef0123456789abcdef") -> Reply:
    return Reply.json(201, {"sid": sid, "status": "queued", "to": TO, "body": BODY, "error_code": None})


def test_sends_form_post_with_basic_auth(
    start_server: Callable[[], ProviderServer], delivery: Callable[..., SmsSender]
) -> None:
    server = start_server()
    server.always(created())
    sender = delivery(sms_providers=["twilio"], twilio_base_url=server.url)

    message_id = sender.send(TO, BODY)

    assert message_id == "SM0123456789abcdef0123456789abcdef"
    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.basic_auth() == (SID, CREDENTIALS["twilio_auth_token"])
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.body.decode(), strict_parsing=True) == {
        "To": [TO],
        "From": [CREDENTIALS["twilio_from"]],
        "Body": [BODY],
    }


def test_a_blank_messaging_service_sid_leaves_the_from_number(
    start_server: Callable[[], ProviderServer], delivery: Callable[..., SmsSender]
) -> None:
    """Blank counts as unset, as the registry's check at start-up counts it (not `MessagingServiceSid=`)."""
    server = start_server()
    server.always(created())
    sender = delivery(sms_providers=["twilio"], twilio_base_url=server.url, twilio_messaging_service_sid="  ")

    sender.send(TO, BODY)

    (request,) = server.requests
    assert parse_qs(request.body.decode()) == {
        "To": [TO],
        "From": [CREDENTIALS["twilio_from"]],
        "Body": [BODY],
    }


def test_messaging_service_sid_replaces_from(
    start_server: Callable[[], ProviderServer], delivery: Callable[..., SmsSender]
) -> None:
    server = start_server()
    server.always(created())
    sender = delivery(
        sms_providers=["twilio"],
        twilio_base_url=server.url + "/",
        twilio_from=None,
        twilio_messaging_service_sid="MG0123456789abcdef0123456789abcdef",
    )

    sender.send(TO, BODY)

    (request,) = server.requests
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert parse_qs(request.body.decode()) == {
        "To": [TO],
        "MessagingServiceSid": ["MG0123456789abcdef0123456789abcdef"],
        "Body": [BODY],
    }

"""Voice and WhatsApp through a local Twilio stand-in: the exact requests Twilio expects."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from tests.sms.conftest import CREDENTIALS, sms_settings
from tests.sms.provider_server import ProviderServer, Reply
from twostep.channels.router import ChannelRouter, build_channels
from twostep.channels.twilio_voice import twiml
from twostep.domain.clock import FixedClock
from twostep.domain.delivery import OutgoingMessage, SentMessage
from twostep.domain.errors import ChannelNotConfigured, ConfigurationError
from twostep.sms import SenderDeps, build_delivery
from twostep.storage.memory import MemoryStorage

SID = CREDENTIALS["twilio_account_sid"]
TOKEN = CREDENTIALS["twilio_auth_token"]
VOICE_FROM = "+15005550007"
WHATSAPP_FROM = "+14155238886"
TO = "+4915112345678"


@pytest.fixture
def twilio() -> Iterator[ProviderServer]:
    server = ProviderServer(default=Reply.json(201, {"sid": "XX0123", "status": "queued"})).start()
    yield server
    server.stop()


@pytest.fixture
def router(tmp_path: Path, twilio: ProviderServer) -> Iterator[Any]:
    storage = MemoryStorage()

    def build(**overrides: Any) -> ChannelRouter:
        senders = {"twilio_voice_from": VOICE_FROM, "twilio_whatsapp_from": WHATSAPP_FROM}
        settings = sms_settings(tmp_path, twilio_base_url=twilio.url, **{**senders, **overrides})
        deps = SenderDeps(outbox=storage, clock=FixedClock(), http=client)
        return build_channels(settings, deps, build_delivery(settings, deps))

    with httpx.Client(timeout=2, trust_env=False) as client:
        build.storage = storage  # type: ignore[attr-defined]
        yield build


def form_of(server: ProviderServer) -> dict[str, list[str]]:
    (request,) = server.requests
    assert request.basic_auth() == (SID, TOKEN)
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    return parse_qs(request.body.decode(), strict_parsing=True)


def test_a_voice_call_speaks_the_text_twice_in_its_language(router: Any, twilio: ProviderServer) -> None:
    delivery = router(channel_providers=["voice:twilio"])

    sent = delivery.deliver(OutgoingMessage(TO, "Ihr Code lautet: 4, 8, 2, 9.", "voice", "de-DE", 120))

    assert sent == SentMessage("twilio", "XX0123", "voice")
    assert twilio.requests[0].path == f"/2010-04-01/Accounts/{SID}/Calls.json"
    say = '<Say language="de-DE">Ihr Code lautet: 4, 8, 2, 9.</Say>'
    assert form_of(twilio) == {
        "To": [TO],
        "From": [VOICE_FROM],
        "Twiml": [f'<Response>{say}<Pause length="1"/>{say}</Response>'],
        "TimeLimit": ["60"],
    }


def test_twiml_escapes_the_text_and_refuses_a_strange_language() -> None:
    document = twiml('1 < 2 & "3"', 'en"><Play>x')

    assert document.count('<Say language="en-US">1 &lt; 2 &amp; "3"</Say>') == 2
    assert "<Play>" not in document


def test_whatsapp_goes_to_the_messages_api_with_prefixed_numbers(router: Any, twilio: ProviderServer) -> None:
    delivery = router(channel_providers=["whatsapp:twilio"])

    sent = delivery.deliver(OutgoingMessage(TO, "123456 is your code.", "whatsapp", valid_seconds=300))

    assert sent == SentMessage("twilio", "XX0123", "whatsapp")
    assert twilio.requests[0].path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert form_of(twilio) == {
        "To": [f"whatsapp:{TO}"],
        "From": [f"whatsapp:{WHATSAPP_FROM}"],
        "Body": ["123456 is your code."],
        "ValidityPeriod": ["300"],
    }


def test_whatsapp_fills_an_approved_template_with_the_code(router: Any, twilio: ProviderServer) -> None:
    delivery = router(channel_providers=["whatsapp:twilio"], twilio_whatsapp_content_sid="HX0123")

    delivery.deliver(OutgoingMessage(TO, "123456 is your code.", "whatsapp", code="123456"))

    assert form_of(twilio) == {
        "To": [f"whatsapp:{TO}"],
        "From": [f"whatsapp:{WHATSAPP_FROM}"],
        "ContentSid": ["HX0123"],
        "ContentVariables": ['{"1": "123456"}'],
    }


def test_a_failing_voice_provider_fails_over_to_the_next(router: Any, twilio: ProviderServer) -> None:
    twilio.always(Reply.json(500, {"code": 20500}))
    delivery = router(channel_providers=["voice:twilio", "voice:console"])

    sent = delivery.deliver(OutgoingMessage(TO, "Your code is: 1, 2.", "voice"))

    assert (sent.provider, sent.channel) == ("console", "voice")
    assert len(twilio.requests) == 2  # a 5xx is retried once, then the next provider takes it
    (kept,) = router.storage.list_outbox(to=TO)
    assert (kept.channel, kept.body) == ("voice", "Your code is: 1, 2.")


@pytest.mark.parametrize("channel", ["voice", "whatsapp"])
def test_an_undecodable_answer_fails_over_to_the_next(
    router: Any, twilio: ProviderServer, channel: str
) -> None:
    """Voice and WhatsApp share the SMS providers' POST: a body labelled gzip but sent plain raised
    httpx.DecodingError past the failover (a 500, the next provider never asked)."""
    twilio.always(
        Reply(201, b'{"sid": "XX0123"}', "application/json", headers=(("Content-Encoding", "gzip"),))
    )
    delivery = router(channel_providers=[f"{channel}:twilio", f"{channel}:console"])

    sent = delivery.deliver(OutgoingMessage(TO, "Your code is: 1, 2.", channel))

    assert (sent.provider, sent.channel) == ("console", channel)
    assert len(twilio.requests) == 1  # Twilio got it and may have taken it: not asked again


def test_sms_still_goes_by_the_sms_providers(router: Any, twilio: ProviderServer) -> None:
    delivery = router(sms_providers=["twilio"], channel_providers=["voice:twilio"])

    sent = delivery.deliver(OutgoingMessage(TO, "123456 is your code."))

    assert sent == SentMessage("twilio", "XX0123", "sms")
    assert form_of(twilio)["From"] == [CREDENTIALS["twilio_from"]]


def test_an_unconfigured_channel_is_refused_before_any_request(router: Any, twilio: ProviderServer) -> None:
    delivery = router(channel_providers=["voice:twilio"])

    with pytest.raises(ChannelNotConfigured) as raised:
        delivery.deliver(OutgoingMessage(TO, "123456", "whatsapp"))

    assert raised.value.code == "channel_not_configured"
    assert "configured: sms, voice" in raised.value.message
    assert twilio.requests == []


@pytest.mark.parametrize(
    ("channel", "setting"),
    [("voice", "TWOSTEP_TWILIO_VOICE_FROM"), ("whatsapp", "TWOSTEP_TWILIO_WHATSAPP_FROM")],
)
def test_a_missing_sender_number_is_named(router: Any, channel: str, setting: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        router(channel_providers=[f"{channel}:twilio"], **{f"twilio_{channel}_from": None})

    assert raised.value.message == f"{setting} is required for the twilio {channel} channel"


@pytest.mark.parametrize("channel", ["voice", "whatsapp"])
def test_a_sender_number_must_be_e164(router: Any, channel: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        router(channel_providers=[f"{channel}:twilio"], **{f"twilio_{channel}_from": "015112345678"})

    assert (
        raised.value.message
        == f"TWOSTEP_TWILIO_{channel.upper()}_FROM must be an E.164 number like +15017122661"
    )


def test_a_whatsapp_sender_may_carry_its_prefix(router: Any, twilio: ProviderServer) -> None:
    delivery = router(channel_providers=["whatsapp:twilio"], twilio_whatsapp_from=f"whatsapp:{WHATSAPP_FROM}")

    delivery.deliver(OutgoingMessage(TO, "123456", "whatsapp"))

    assert form_of(twilio)["From"] == [f"whatsapp:{WHATSAPP_FROM}"]

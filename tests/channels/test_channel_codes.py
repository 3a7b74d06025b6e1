"""Codes by channel inside the services: the text each channel gets, what it counts, what is refused."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tests.conftest import PHONE
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.domain.delivery import OutgoingMessage, SentMessage
from twostep.domain.errors import ChannelNotConfigured, RateLimited
from twostep.domain.identity import E164
from twostep.domain.otp import CodeHasher
from twostep.services.audit import AuditService
from twostep.services.challenges import ChallengeService, CodeSpec
from twostep.services.channel_texts import spoken_code
from twostep.services.limits import LimitsService
from twostep.storage.memory import MemoryStorage

SPEC = CodeSpec(length=6, ttl_seconds=120, max_attempts=3, template="{code} is your {org} code.")


@dataclass
class RecordingDelivery:
    """Every channel, recording the messages instead of sending them."""

    name: str = "recording"
    channels: tuple[str, ...] = ("sms", "voice", "whatsapp")
    sent: list[OutgoingMessage] = field(default_factory=list)

    def deliver(self, message: OutgoingMessage) -> SentMessage:
        self.sent.append(message)
        return SentMessage("recording", f"id-{len(self.sent)}", message.channel)


def codes_over(
    delivery: RecordingDelivery, container: Container, web_origin: str | None = None
) -> ChallengeService:
    storage, clock = MemoryStorage(), FixedClock()
    audit = AuditService(storage, clock)
    return ChallengeService(
        store=storage,
        sender=container.sender,
        delivery=delivery,
        hasher=CodeHasher(b"k" * 32),
        limits=LimitsService(storage, container.limits.policy, clock, audit),
        audit=audit,
        clock=clock,
        org_name="twostep",
        web_origin=web_origin,
    )


def issue(codes: ChallengeService, spec: CodeSpec, challenge_id: str = "c1") -> None:
    codes.issue(challenge_id=challenge_id, purpose="verify", subject="a1", phone=E164(PHONE), spec=spec)


def test_spoken_code_is_read_digit_by_digit() -> None:
    assert spoken_code("048213") == "0, 4, 8, 2, 1, 3"


def test_a_voice_code_is_spoken_in_the_language_the_spec_names(container: Container) -> None:
    delivery = RecordingDelivery()
    codes = codes_over(delivery, container)
    spec = CodeSpec(
        6, 120, 3, SPEC.template, channel="voice", language="de-DE", voice_template="Ihr Code: {code}."
    )

    issue(codes, spec)

    (message,) = delivery.sent
    assert (message.channel, message.language, message.to) == ("voice", "de-DE", PHONE)
    assert re.fullmatch(r"Ihr Code: \d(, \d){5}\.", message.text)


def test_only_an_sms_carries_the_webotp_line(container: Container) -> None:
    delivery = RecordingDelivery()
    codes = codes_over(delivery, container, web_origin="https://auth.example.com")

    issue(codes, SPEC, "c1")
    issue(codes, CodeSpec(6, 120, 3, SPEC.template, channel="whatsapp"), "c2")

    sms, whatsapp = delivery.sent
    assert "@auth.example.com #" in sms.text
    assert "@auth.example.com" not in whatsapp.text and whatsapp.channel == "whatsapp"


def test_a_voice_code_works_like_a_texted_one(container: Container) -> None:
    created = container.verification.create("order-1", PHONE, channel="voice")

    (entry,) = container.storage.list_outbox(to=PHONE)
    assert entry.channel == "voice"
    assert entry.body.startswith("twostep kodunuz: ")  # a +90 number: the bundled Turkish call text
    code = "".join(re.findall(r"\d", entry.body))
    assert len(code) == 6
    assert container.verification.check("order-1", code).auth_id == created.auth_id


def test_an_unconfigured_channel_is_refused_before_anything_is_counted(
    make_container: Callable[..., Container],
) -> None:
    container = make_container(channel_providers="", sms_per_number_10min=1)

    with pytest.raises(ChannelNotConfigured) as raised:
        container.verification.create("order-1", PHONE, channel="voice")

    assert raised.value.details == {"field": "channel"}
    assert container.storage.list_outbox(to=PHONE) == []
    container.verification.create("order-1", PHONE)  # the one text this number may get was not used up
    with pytest.raises(RateLimited):
        container.verification.create("order-2", PHONE)

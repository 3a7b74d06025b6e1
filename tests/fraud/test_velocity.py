"""Velocity: a per-IP SMS cap (whatever the numbers), a per-account daily cap, and per-tenant rates in
place of the per-IP limits for keyed verification API callers."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, register
from tests.fraud.conftest import MakeGuarded, mobile
from tests.limits.helpers import SPEC
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.domain.errors import RateLimited
from twostep.domain.models import RequestContext, Tenant


def send(container: Container, phone: str, ctx: RequestContext, subject: str | None = None) -> str:
    """One code through the real path; the refused limit's name, or "sent"."""
    try:
        container.codes.issue(
            challenge_id=str(uuid.uuid4()),
            purpose="login" if subject else "verify",
            subject=subject or "auth-id",
            phone=phone,
            spec=SPEC,
            ctx=ctx,
        )
    except RateLimited as refused:
        return refused.limit
    return "sent"


def test_one_ip_gets_ten_texts_an_hour_whatever_the_numbers(guarded: MakeGuarded, clock: FixedClock) -> None:
    container = guarded()
    attacker, neighbour = RequestContext(ip="198.51.100.7"), RequestContext(ip="198.51.100.8")
    results = [send(container, mobile(i), attacker) for i in range(15)]
    assert results == ["sent"] * 10 + ["ip_sms_rate"] * 5
    assert send(container, mobile(99), neighbour) == "sent"  # another address is not affected
    assert len(container.storage.list_outbox(last=100)) == 11
    clock.advance(3600)
    assert send(container, mobile(50), attacker) == "sent"


def test_ipv6_addresses_of_one_subscriber_share_the_cap(guarded: MakeGuarded) -> None:
    container = guarded(ip_sms_per_hour=3)
    results = [send(container, mobile(i), RequestContext(ip=f"2001:db8:1:2::{i + 1:x}")) for i in range(4)]
    assert results == ["sent", "sent", "sent", "ip_sms_rate"]


def test_a_refused_send_gives_the_ip_unit_back(guarded: MakeGuarded) -> None:
    container = guarded(ip_sms_per_hour=2, resend_cooldown_seconds=30)
    ctx = RequestContext(ip="198.51.100.7")
    assert send(container, mobile(1), ctx) == "sent"
    assert send(container, mobile(1), ctx) == "resend_cooldown"  # refused later in the chain
    assert send(container, mobile(2), ctx) == "sent"  # so the cooldown refusal cost no IP unit
    assert send(container, mobile(3), ctx) == "ip_sms_rate"


def test_one_account_gets_ten_codes_a_day(guarded: MakeGuarded, clock: FixedClock) -> None:
    container = guarded(ip_sms_per_hour=1000, sms_per_number_day=1000, sms_per_number_10min=1000)
    ips = (RequestContext(ip=f"198.51.100.{i}") for i in range(1, 100))
    results = [send(container, mobile(1), next(ips), subject="user-1") for _ in range(12)]
    assert results == ["sent"] * 10 + ["account_sms_day"] * 2
    assert send(container, mobile(1), next(ips), subject="user-2") == "sent"
    clock.advance(86400)
    assert send(container, mobile(1), next(ips), subject="user-1") == "sent"


def test_login_and_resend_count_against_the_account(guarded: MakeGuarded) -> None:
    container = guarded(account_sms_per_day=3)
    with TestClient(create_app(container)) as client:
        register(client)
        started = client.post("/login", json={"email": "test@example.com", "password": PASSWORD})
        otp_id = started.json()["otpId"]
        assert client.post(f"/otp/{otp_id}/resend").status_code == 202
        assert client.post(f"/otp/{otp_id}/resend").status_code == 202
        refused = client.post(f"/otp/{otp_id}/resend")
    assert refused.status_code == 429
    assert refused.json()["limit"] == "account_sms_day"


def test_a_keyed_tenant_has_its_own_rates_not_its_servers_ip(guarded: MakeGuarded) -> None:
    container = guarded(ip_sms_per_hour=2, ip_verify_create_per_hour=2)
    shop = Tenant("shop", sms_per_hour=5, sms_per_day=100)
    server = "203.0.113.5"  # every call of a server-to-server caller comes from one address
    for i in range(5):
        container.verification.create(f"order-{i}", mobile(i), ctx=RequestContext(ip=server, tenant=shop))
    with pytest.raises(RateLimited) as refused:
        container.verification.create("order-9", mobile(9), ctx=RequestContext(ip=server, tenant=shop))
    assert refused.value.limit == "tenant_sms_hour"
    other = Tenant("bank", sms_per_hour=5)
    container.verification.create("x", mobile(20), ctx=RequestContext(ip=server, tenant=other))


def test_tenant_daily_rate(guarded: MakeGuarded, clock: FixedClock) -> None:
    container = guarded()
    shop = Tenant("shop", sms_per_hour=100, sms_per_day=3)
    for i in range(3):
        container.verification.create(f"o{i}", mobile(i), ctx=RequestContext(ip="203.0.113.5", tenant=shop))
        clock.advance(3600)
    with pytest.raises(RateLimited) as refused:
        container.verification.create("o9", mobile(9), ctx=RequestContext(ip="203.0.113.5", tenant=shop))
    assert refused.value.limit == "tenant_sms_day"

"""Codes by email get the per-address caps and cooldown a phone number gets; refusals give back."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from tests.conftest import PASSWORD, register, sign_in
from tests.functional.test_account_lifecycle import bearer
from tests.limits.helpers import assert_limited
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.domain.errors import RateLimited
from twostep.services.challenges import CodeSpec

MakeContainer = Callable[..., Container]
ADDRESS = "anna@example.com"


def test_cooldown_then_ten_minute_cap(make_container: MakeContainer, clock: FixedClock) -> None:
    container = make_container(resend_cooldown_seconds=30, sms_per_number_10min=2)
    container.limits.reserve_email(ADDRESS)
    with pytest.raises(RateLimited) as cooling:
        container.limits.reserve_email(ADDRESS)
    assert (cooling.value.limit, cooling.value.retry_after) == ("email_cooldown", 30)
    clock.advance(30)
    container.limits.reserve_email(ADDRESS)  # the refusal above did not count against the cap
    clock.advance(30)
    with pytest.raises(RateLimited) as capped:
        container.limits.reserve_email(ADDRESS)
    assert capped.value.limit == "email_per_address_10min"
    container.limits.reserve_email("other@example.com")  # another address has its own caps


def test_a_refused_code_email_is_not_sent(make_container: MakeContainer) -> None:
    container = make_container(resend_cooldown_seconds=30)
    container.limits.reserve_email(ADDRESS, account="user-1")
    with pytest.raises(RateLimited):
        container.codes.issue_email(
            challenge_id="c1",
            purpose="email_verify",
            subject="user-1",
            email=ADDRESS,
            spec=CodeSpec(length=6, ttl_seconds=120, max_attempts=5, template="{code}"),
        )
    assert container.storage.list_outbox(to=ADDRESS) == []
    assert container.storage.get_challenge("c1") is None


def test_a_claim_s_right_code_ends_only_its_own_cooldown(make_container: MakeContainer) -> None:
    """`end_email_cooldown` (a right claim code) lifts the cooldown the claim's code took, for the account
    it was for; another caller's cooldown of the mailbox and the mailbox's caps still hold."""
    container = make_container(resend_cooldown_seconds=30, sms_per_number_10min=4)
    container.limits.reserve_email(ADDRESS, account="holder")
    container.limits.reserve_email(ADDRESS, account="other")
    container.limits.end_email_cooldown(ADDRESS, "holder")
    container.limits.reserve_email(ADDRESS, account="holder")
    with pytest.raises(RateLimited) as cooling:
        container.limits.reserve_email(ADDRESS, account="other")
    assert cooling.value.limit == "email_cooldown"
    container.limits.end_email_cooldown(ADDRESS, "holder")
    container.limits.reserve_email(ADDRESS, account="holder")
    container.limits.end_email_cooldown(ADDRESS, "holder")
    with pytest.raises(RateLimited) as capped:
        container.limits.reserve_email(ADDRESS, account="holder")
    assert capped.value.limit == "email_per_address_10min"


def test_subaddress_spellings_of_one_mailbox_share_its_caps(make_container: MakeContainer) -> None:
    """Before, each `+detail` spelling had a day's caps of its own: one account could start email changes to
    `victim+1@…`, `victim+2@…`, … without end, every code landing in the one mailbox at the providers
    that deliver subaddresses. They now count as the mailbox; other names keep their own caps."""
    container = make_container(sms_per_number_10min=3)
    for detail in ("", "+1", "+2"):
        container.limits.reserve_email(f"anna{detail}@example.com")
    for spelling in ("anna@example.com", "anna+3@example.com", "anna+x+y@example.com"):
        with pytest.raises(RateLimited) as capped:
            container.limits.reserve_email(spelling)
        assert capped.value.limit == "email_per_address_10min"
    container.limits.reserve_email("anna.b@example.com")  # another name at the domain
    container.limits.reserve_email("anna@example.net")  # the same name at another domain
    container.limits.reserve_email("+x@example.com")  # a name that is all detail is its own mailbox


def test_an_address_s_cooldown_tells_no_other_caller_when_it_was_mailed(
    make_container: MakeContainer, clock: FixedClock
) -> None:
    """Before, the cooldown was one counter per mailbox: 12 s after the owner asked for a code to prove
    their address, a stranger changing their own email to `owner+x@…` (the owner's mailbox, free to type)
    was refused with 429 email_cooldown and Retry-After 18, telling them the owner had just been mailed, and
    when. Now each caller has its own cooldown (the account the code is for); the mailbox's caps stay shared."""
    container = make_container(resend_cooldown_seconds=30, sms_per_number_10min=3)
    owner_address, stranger_phone = "owner@example.com", "+905555555566"
    with TestClient(create_app(container)) as client:
        register(client, email=owner_address)
        register(client, email="stranger@example.com", phone=stranger_phone)
        owner = bearer(sign_in(client, container, email=owner_address))
        stranger = bearer(sign_in(client, container, email="stranger@example.com", phone=stranger_phone))
        assert client.post("/me/email/verify/start", headers=owner).status_code == 202
        clock.advance(12)
        change = {"email": "owner+x@example.com", "currentPassword": PASSWORD}
        probe = client.post("/me/email", json=change, headers=stranger)
        assert probe.status_code == 202, probe.text  # the answer of a mailbox nobody mailed
        assert_limited(client.post("/me/email", json=change, headers=stranger), "email_cooldown", 30)
        assert_limited(client.post("/me/email/verify/start", headers=owner), "email_cooldown", 18)
        clock.advance(30)
        assert client.post("/me/email", json=change, headers=stranger).status_code == 202
        capped = client.post("/me/email/verify/start", headers=owner)
        assert_limited(capped, "email_per_address_10min")  # the mailbox's caps: shared by every caller
    assert len(container.storage.list_outbox(to=owner_address)) == 1

"""Codes by email get the per-address caps and cooldown a phone number gets; refusals give back."""

from __future__ import annotations

from collections.abc import Callable

import pytest

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
    container.limits.reserve_email(ADDRESS)
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

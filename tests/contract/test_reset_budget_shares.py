"""A reset's wrong-code budget in shares: per client inside the email's cap, and the owner's devices apart.

Before, one counter per email held every wrong reset code of the day: a stranger who knew the email spent
it and the owner's reset answered 429 until the day ended. Each share is a storage counter taken with the
email's cap in one request, so it must hold on every storage, and under concurrent guesses.
"""

from __future__ import annotations

import pytest

from tests.contract.helpers import run_together
from twostep.domain.clock import FixedClock
from twostep.domain.errors import RateLimited
from twostep.domain.models import RequestContext
from twostep.domain.ports import Storage
from twostep.services.audit import AuditService
from twostep.services.counting import Held
from twostep.services.limits import LimitPolicy, LimitsService

EMAIL = "owner@example.com"


def reset_limits(storage: Storage) -> LimitsService:
    clock = FixedClock()
    policy = LimitPolicy(reset_code_failures_per_day=6, reset_code_failures_per_client_day=4)
    return LimitsService(storage, policy, clock, AuditService(storage, clock))


def refused_limits(results: list[list[Held] | BaseException]) -> list[str]:
    return sorted(r.limit for r in results if isinstance(r, RateLimited))


def test_clients_racing_take_no_more_than_their_shares_and_the_emails_cap(storage: Storage) -> None:
    limits = reset_limits(storage)
    clients = [RequestContext(ip="203.0.113.7"), RequestContext(ip="2001:db8::1")]
    results = run_together(16, lambda i: limits.begin_reset_attempt(EMAIL, clients[i % 2]))
    taken = [r for r in results if isinstance(r, list)]
    assert len(taken) == 6  # the email's cap, whatever the interleaving
    assert len(refused_limits(results)) == 10
    counts = [sum(1 for i, r in enumerate(results) if isinstance(r, list) and i % 2 == c) for c in (0, 1)]
    assert max(counts) <= 4  # no client past its share


def test_a_stranger_spends_only_their_share_and_the_owner_device_keeps_its_own(storage: Storage) -> None:
    limits = reset_limits(storage)
    stranger, owner = RequestContext(ip="203.0.113.7"), RequestContext(ip="198.51.100.9")
    results = run_together(8, lambda _: limits.begin_reset_attempt(EMAIL, stranger))
    assert refused_limits(results) == ["reset_wrong_codes_client_day"] * 4
    assert len(limits.begin_reset_attempt(EMAIL, owner)) == 2  # the owner's network: the email's and its own
    limits.begin_reset_attempt(EMAIL, RequestContext(ip="192.0.2.1"))  # the sixth: the email's cap spent
    with pytest.raises(RateLimited) as refused:
        limits.begin_reset_attempt(EMAIL, RequestContext(ip="192.0.2.99"))
    assert refused.value.limit == "reset_wrong_codes_day"
    on_device = run_together(8, lambda _: limits.begin_reset_attempt(EMAIL, owner, from_owner_device=True))
    assert refused_limits(on_device) == ["reset_wrong_codes_device_day"] * 2  # six of its own


def test_a_check_given_back_frees_every_counter_it_took(storage: Storage) -> None:
    limits = reset_limits(storage)
    stranger = RequestContext(ip="203.0.113.7")
    for _ in range(10):  # right codes: each check taken and given back, never spending a share
        limits.reset_attempt_not_wrong(limits.begin_reset_attempt(EMAIL, stranger))
    assert len(limits.begin_reset_attempt(EMAIL, stranger)) == 2


def test_resets_asked_for_at_once_stop_at_the_shares_and_the_emails_cap(storage: Storage) -> None:
    """The resets asked for an email: the same shares (a client's, the email's, the owner's devices')."""
    clock = FixedClock()
    policy = LimitPolicy(reset_requests_per_day=4, reset_requests_per_client_day=3)
    limits = LimitsService(storage, policy, clock, AuditService(storage, clock))
    clients = [RequestContext(ip="203.0.113.7"), RequestContext(ip="203.0.113.8")]
    results = run_together(12, lambda i: limits.count_reset_request(EMAIL, clients[i % 2]))
    assert sum(1 for r in results if r is None) == 4
    assert {r.limit for r in results if isinstance(r, RateLimited)} <= {
        "reset_requests_day",
        "reset_requests_client_day",
    }
    own = run_together(6, lambda _: limits.count_reset_request(EMAIL, clients[0], from_owner_device=True))
    assert refused_limits(own) == ["reset_requests_device_day"] * 2  # four of its own

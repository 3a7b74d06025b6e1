"""Small helpers shared by the limit tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import Any, TypeVar

import httpx

from tests.conftest import PASSWORD, PHONE
from twostep.container import Container
from twostep.domain.errors import RateLimited
from twostep.services.challenges import CodeSpec
from twostep.services.limits import login_failures_key
from twostep.services.registration import Registration

T = TypeVar("T")

SPEC = CodeSpec(length=6, ttl_seconds=120, max_attempts=5, template="{code} is your code")


def us_number(i: int) -> str:
    """A distinct valid E.164 number per `i` (the US 555-01xx fictional range and neighbours)."""
    return f"+1202555{i:04d}"


def assert_limited(response: httpx.Response, limit: str, retry_after: int | None = None) -> int:
    """A 429 problem+json naming `limit`, whose Retry-After header and body agree; returns the seconds."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "rate_limited"
    assert body["limit"] == limit, body
    assert response.headers["retry-after"] == str(body["retryAfter"])
    if retry_after is not None:
        assert body["retryAfter"] == retry_after, body
    return int(body["retryAfter"])


def send_code(container: Container, phone: str, subject: str = "user-1") -> str | RateLimited:
    """One SMS through the real path (limits, challenge, sender); the refusal is returned, not raised."""
    try:
        return container.codes.issue(
            challenge_id=str(uuid.uuid4()),
            purpose="login",
            subject=subject,
            phone=phone,
            spec=SPEC,
        ).id
    except RateLimited as refused:
        return refused


def run_together(count: int, work: Callable[[int], T]) -> list[T | BaseException]:
    """Run `work(i)` on `count` threads released together by a barrier; results or exceptions."""
    barrier = Barrier(count)

    def task(i: int) -> T | BaseException:
        barrier.wait()
        try:
            return work(i)
        except BaseException as exc:
            return exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(task, range(count)))


def outbox_count(container: Container, phone: str | None = None) -> int:
    return len(container.storage.list_outbox(to=phone, last=100_000))


def limits_of(results: list[Any]) -> list[str]:
    return [r.limit for r in results if isinstance(r, RateLimited)]


def register_with_phone(container: Container, email: str) -> str:
    """A registered account with the tests' password and phone; returns its id."""
    user = container.registration.register(
        Registration(email=email, password=PASSWORD, first_name="A", last_name="B", phone=PHONE)
    )
    return user.id


def login_failures(container: Container, subject: str) -> int:
    """The live count of wrong passwords for `subject` (an e-mail, or e-mail|client)."""
    live = container.storage.get_counter(login_failures_key(subject), container.clock.now())
    return live.value if live else 0

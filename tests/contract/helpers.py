"""Record builders and a thread barrier runner for the conformance suite."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from twostep.domain.models import Challenge, RefreshToken, User

T = TypeVar("T")
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def make_user(email: str = "a@example.com", phone: str | None = "+905555555555", **kw: object) -> User:
    return User(
        id=str(uuid.uuid4()),
        email=email,
        password_hash="$argon2id$x",
        created_at=NOW,
        phone=phone,
        first_name="A",
        last_name="B",
        **kw,
    )  # type: ignore[arg-type]


def make_challenge(max_attempts: int = 5, ttl: int = 120, **kw: object) -> Challenge:
    values: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "purpose": "login",
        "subject": "user-1",
        "phone": "+905555555555",
        "code_hmac": "h1",
        "created_at": NOW,
        "expires_at": NOW + timedelta(seconds=ttl),
        "max_attempts": max_attempts,
        "last_sent_at": NOW,
        "code_length": 6,
    }
    values.update(kw)
    return Challenge(**values)  # type: ignore[arg-type]


def make_refresh(family: str = "fam-1", user_id: str = "user-1", ttl: int = 3600) -> RefreshToken:
    return RefreshToken(
        token_hash=uuid.uuid4().hex,
        family_id=family,
        user_id=user_id,
        created_at=NOW,
        expires_at=NOW + timedelta(seconds=ttl),
        family_expires_at=NOW + timedelta(seconds=ttl),
    )


def run_together(count: int, action: Callable[[int], T]) -> list[T | BaseException]:
    """Run `action(i)` in `count` threads released at once by a barrier; exceptions are returned."""
    barrier = threading.Barrier(count)

    def run(index: int) -> T | BaseException:
        barrier.wait()
        try:
            return action(index)
        except BaseException as exc:  # collected for the assertions
            return exc

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))

"""Record builders and a thread barrier runner for the conformance suite."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from twostep.domain.clock import FixedClock
from twostep.domain.identity import E164
from twostep.domain.models import Challenge, RefreshToken, User
from twostep.domain.otp import CodeHasher
from twostep.domain.ports import Storage
from twostep.services.audit import AuditService
from twostep.services.challenges import ChallengeService
from twostep.services.limits import LimitPolicy, LimitsService

if TYPE_CHECKING:
    from twostep.storage.dynamodb import DynamoDbStorage

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


class RecordingSender:
    """An SmsSender that keeps what it was asked to send."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, to: str, body: str) -> str:
        self.sent.append((to, body))
        return "id"

    def last_code(self) -> str:
        match = re.match(r"\d+", self.sent[-1][1])
        assert match is not None
        return match.group(0)


@dataclass(frozen=True)
class CodeWiring:
    codes: ChallengeService
    sender: RecordingSender
    limits: LimitsService
    audit: AuditService
    clock: FixedClock
    hasher: CodeHasher


def wire_codes(storage: Storage, policy: LimitPolicy) -> CodeWiring:
    """A ChallengeService over `storage` with a recording sender and a fixed clock."""
    clock = FixedClock()
    audit = AuditService(storage, clock)
    limits = LimitsService(storage, policy, clock, audit)
    sender = RecordingSender()
    hasher = CodeHasher(b"k" * 32)
    codes = ChallengeService(
        store=storage,
        sender=sender,
        hasher=hasher,
        limits=limits,
        audit=audit,
        clock=clock,
        org_name="twostep",
        web_origin=None,
    )
    return CodeWiring(codes, sender, limits, audit, clock, hasher)


def prove(storage: Storage, user_id: str, phone: E164) -> bool:
    """`prove_phone` over the account as stored now (where the account's read is not what is tested)."""
    account = storage.get_user(user_id)
    return storage.prove_phone(account or replace(make_user(), id=user_id), phone)


def moto_table(endpoint: str, prefix: str) -> tuple[DynamoDbStorage, Any]:
    """A DynamoDB storage on a fresh table of the session's moto server, with its boto3 client, for the
    DynamoDB-only tests that look at the table's items or count its requests."""
    import boto3

    from twostep.storage.dynamodb import DynamoDbStorage

    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    storage = DynamoDbStorage(client, f"{prefix}-{uuid.uuid4().hex[:12]}")
    storage.init_schema()
    return storage, client

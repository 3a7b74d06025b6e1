"""IdempotencyService over memory storage and a fixed clock: claims, replays, refusals, what is kept,
and the lock that frees a crashed request's key."""

from __future__ import annotations

import anyio
import pytest

from twostep.domain.clock import FixedClock
from twostep.domain.idempotency import IdempotencyKeyReused, IdempotencyRequestInProgress
from twostep.services.idempotency import LOCK_SECONDS, Claim, IdempotencyService, IdempotentAnswer
from twostep.storage.memory import MemoryStorage

OK = IdempotentAnswer(200, (("content-type", "application/json"),), '{"otpId": "o-1"}')


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def service(clock: FixedClock) -> IdempotencyService:
    return IdempotencyService(MemoryStorage(), clock, fingerprint_key=b"k" * 32, ttl_seconds=3600)


def claimed(service: IdempotencyService, key: str = "key-1", request: bytes = b"body") -> Claim:
    begun = service.begin("login\nemail=a@example.com", key, request)
    assert isinstance(begun, Claim)
    return begun


def test_a_repeat_while_running_is_in_progress_and_after_the_answer_a_replay(
    service: IdempotencyService,
) -> None:
    claim = claimed(service)
    with pytest.raises(IdempotencyRequestInProgress):
        service.begin("login\nemail=a@example.com", "key-1", b"body")
    with pytest.raises(IdempotencyKeyReused):
        service.begin("login\nemail=a@example.com", "key-1", b"another body")
    service.finish(claim, OK)
    assert service.begin("login\nemail=a@example.com", "key-1", b"body") == OK
    with pytest.raises(IdempotencyKeyReused):
        service.begin("login\nemail=a@example.com", "key-1", b"another body")
    # The same key in another scope is another key.
    assert isinstance(service.begin("login\nemail=b@example.com", "key-1", b"body"), Claim)


@pytest.mark.parametrize("status", [500, 503, 429, 409])
def test_an_answer_a_retry_may_change_lets_the_key_go(service: IdempotencyService, status: int) -> None:
    service.finish(claimed(service), IdempotentAnswer(status, (), "{}"))
    retry = claimed(service)  # the same key and request run again
    service.finish(retry, OK)
    assert service.begin("login\nemail=a@example.com", "key-1", b"body") == OK


def test_a_final_refusal_is_kept(service: IdempotencyService) -> None:
    refused = IdempotentAnswer(401, (("www-authenticate", "Bearer"),), '{"code": "invalid_credentials"}')
    service.finish(claimed(service), refused)
    assert service.begin("login\nemail=a@example.com", "key-1", b"body") == refused


def test_an_abandoned_key_is_free_at_once(service: IdempotencyService) -> None:
    service.abandon(claimed(service))
    assert isinstance(service.begin("login\nemail=a@example.com", "key-1", b"body"), Claim)


def test_a_crashed_requests_key_is_taken_over_after_the_lock(
    service: IdempotencyService, clock: FixedClock
) -> None:
    crashed = claimed(service)
    clock.advance(LOCK_SECONDS - 1)
    with pytest.raises(IdempotencyRequestInProgress):
        service.begin("login\nemail=a@example.com", "key-1", b"body")
    clock.advance(1)
    takeover = claimed(service)
    service.finish(crashed, IdempotentAnswer(200, (), '{"late": true}'))  # too late: not stored
    service.finish(takeover, OK)
    assert service.begin("login\nemail=a@example.com", "key-1", b"body") == OK


def test_keys_expire(service: IdempotencyService, clock: FixedClock) -> None:
    service.finish(claimed(service), OK)
    clock.advance(3599)
    assert service.begin("login\nemail=a@example.com", "key-1", b"body") == OK
    clock.advance(1)
    assert isinstance(service.begin("login\nemail=a@example.com", "key-1", b"another body"), Claim)


def test_nothing_stored_holds_the_key_or_the_request() -> None:
    storage = MemoryStorage()
    keyed = IdempotencyService(storage, FixedClock(), fingerprint_key=b"k" * 32, ttl_seconds=60)
    claim = keyed.begin("login\nemail=a@example.com", "my-key", b'{"password": "hunter2 secret"}')
    assert isinstance(claim, Claim)
    (record,) = storage._idempotency.values()
    assert (
        "my-key" not in repr(record) and "hunter2" not in repr(record) and "a@example.com" not in repr(record)
    )


def test_a_cancelled_request_lets_its_key_go(service: IdempotencyService) -> None:
    """A client that hangs up cancels its request: the key is freed anyway, not held until the lock lapses."""
    from fastapi import Request, Response

    from twostep.api.idempotency import Idempotent, _run_claimed, by_path

    claim = claimed(service)

    async def hangs(_: Request) -> Response:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def cancelled() -> None:
        async with anyio.create_task_group() as group:

            async def run() -> None:
                await _run_claimed(
                    Idempotent("t", by_path), service, claim, hangs, None, lambda _: Response()
                )  # type: ignore[arg-type]

            group.start_soon(run)
            await anyio.sleep(0.05)
            group.cancel_scope.cancel()

    anyio.run(cancelled)
    assert isinstance(service.begin("login\nemail=a@example.com", "key-1", b"body"), Claim)

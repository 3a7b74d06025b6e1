"""`POST /verifications` never answers 503 with a delivered code that works.

Under write contention (SQLite busy) some 503 answers had left a delivered, working code: the code was
stored usable before the SMS, and writes after the SMS (the `code_sent` and `verification_created`
audit events, releasing the per-id lock) could fail with a 503 although the code was out. Now a code is
stored unusable, armed by one conditional write once its message went out, and bookkeeping after that is
logged instead of failing the request. A storage that refuses chosen writes plays the contention here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import latest_code, settings_for_tests
from twostep.api.app import create_app
from twostep.container import build
from twostep.domain.clock import FixedClock
from twostep.domain.errors import StorageUnavailable
from twostep.storage.memory import MemoryStorage

PHONE = "+14155552671"


class RefusingStorage(MemoryStorage):
    """Memory storage whose named writes fail as a busy database's do, once `refusing` is set."""

    def __init__(self) -> None:
        self.refusing: set[str] = set()  # first: MemoryStorage's own __init__ calls its methods
        super().__init__()

    def __getattribute__(self, name: str) -> object:
        if name != "refusing" and name in object.__getattribute__(self, "refusing"):
            raise StorageUnavailable()
        return super().__getattribute__(name)


@pytest.fixture
def storage() -> RefusingStorage:
    return RefusingStorage()


@pytest.fixture
def client(tmp_path: Path, clock: FixedClock, storage: RefusingStorage) -> Iterator[TestClient]:
    container = build(settings_for_tests(tmp_path), clock=clock, storage=storage)
    with TestClient(create_app(container), raise_server_exceptions=False) as test_client:
        yield test_client
    container.close()


def create(client: TestClient, auth_id: str = "order-1") -> int:
    return client.post("/verifications", json={"auth_id": auth_id, "recipient": PHONE}).status_code


def check(client: TestClient, code: str, auth_id: str = "order-1") -> int:
    return client.get("/verifications", params={"auth_id": auth_id, "code": code}).status_code


def code_sent(client: TestClient) -> str:
    container = client.app.state.container  # type: ignore[attr-defined]
    return latest_code(container, PHONE)


def test_bookkeeping_that_fails_after_the_code_went_out_is_no_503(
    client: TestClient, storage: RefusingStorage
) -> None:
    storage.refusing = {"append_audit", "delete_counter"}  # the writes that came after the SMS
    assert create(client) == 200  # was 503, with the delivered code working
    storage.refusing = set()
    assert check(client, code_sent(client)) == 200


@pytest.mark.parametrize("failing", ["arm_challenge_audited", "replace_code", "put_challenge"])
def test_a_503_leaves_no_usable_code_behind(
    client: TestClient, storage: RefusingStorage, failing: str
) -> None:
    if failing == "replace_code":
        assert create(client) == 200  # a live code, so the next create replaces it
        first = code_sent(client)
    storage.refusing = {failing}
    assert create(client) == 503
    storage.refusing = set()
    messages = client.app.state.container.storage.list_outbox(to=PHONE)  # type: ignore[attr-defined]
    if failing == "arm_challenge_audited":  # the SMS went out, the write after it failed
        assert check(client, code_sent(client)) in (401, 410)
    if failing == "replace_code":
        assert len(messages) == 1 and check(client, first) == 200  # nothing replaced: the old code stands
    if failing == "put_challenge":
        assert messages == []  # nothing was sent

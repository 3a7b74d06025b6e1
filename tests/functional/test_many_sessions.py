"""An account with many sessions (a script that signs in again and again, a shared kiosk account): ending
them all costs a few storage requests, not one write transaction per session, and listing them answers a
page at a time.

Before, `DELETE /sessions` (and a password change or reset, a lock, a number change, a deletion) ended the
sessions one by one: one SQLite write transaction each (3,000 sessions held the write lock 1.56 s while
sign-ins waited)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import register
from tests.contract.helpers import make_refresh
from tests.contract.test_sessions import make_session
from tests.functional.test_sessions_api import bearer, refused, sign_in
from twostep.api.app import create_app
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.domain.models import Session

MANY = 30


@pytest.fixture
def sqlite_client(make_container: Callable[..., Container]) -> Iterator[tuple[TestClient, Container]]:
    container = make_container(storage="sqlite")
    with TestClient(create_app(container)) as client:
        yield client, container


def _more_sessions(container: Container, clock: FixedClock, user_id: str, count: int = MANY) -> list[Session]:
    now = clock.now()
    sessions = []
    for _ in range(count):
        session = make_session(
            user_id, created_at=now, auth_time=now, last_used_at=now, expires_at=now + timedelta(days=1)
        )
        container.storage.add_session(session, make_refresh(family=session.id, user_id=user_id))
        sessions.append(session)
    return sessions


def test_signing_out_everywhere_else_is_one_write_however_many_sessions(
    sqlite_client: tuple[TestClient, Container], clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, container = sqlite_client
    register(client)
    other = sign_in(client, container)
    mine = sign_in(client, container)
    user_id = container.keys.verifier().verify(mine["accessToken"]).sub
    _more_sessions(container, clock, user_id)
    storage: Any = container.storage
    writes = []
    original = storage._transaction
    monkeypatch.setattr(storage, "_transaction", lambda: writes.append(1) or original())

    answer = client.delete("/sessions", headers=bearer(mine))

    assert answer.status_code == 200 and answer.json() == {"ended": MANY + 1}
    assert len(writes) == 1, f"{len(writes)} write transactions"  # MANY + 1 before
    assert refused(client, other) == "session_revoked"
    assert client.post("/token/refresh", json={"refreshToken": other["refreshToken"]}).status_code == 401
    assert client.get("/hello", headers=bearer(mine)).status_code == 200
    assert [s["current"] for s in client.get("/sessions", headers=bearer(mine)).json()["sessions"]] == [True]


def test_the_session_list_answers_a_page_of_100_and_a_cursor_for_the_rest(
    client: TestClient, container: Container, clock: FixedClock
) -> None:
    """`GET /sessions` answered every live session in one answer, however many (3,000 took 112 ms)."""
    register(client)
    mine = sign_in(client, container)
    user_id = container.keys.verifier().verify(mine["accessToken"]).sub
    clock.advance(1)
    _more_sessions(container, clock, user_id, 104)

    first = client.get("/sessions", headers=bearer(mine))
    assert first.status_code == 200 and len(first.json()["sessions"]) == 100
    listed = [s["id"] for s in first.json()["sessions"]]
    cursor = first.json()["nextCursor"]
    while cursor:
        page = client.get("/sessions", params={"cursor": cursor, "limit": 3}, headers=bearer(mine)).json()
        listed += [s["id"] for s in page["sessions"]]
        cursor = page["nextCursor"]
    assert len(listed) == len(set(listed)) == 105
    assert listed[-1] == container.keys.verifier().verify(mine["accessToken"]).sid  # the oldest
    assert client.get("/sessions", params={"limit": 501}, headers=bearer(mine)).status_code == 422
    bad = client.get("/sessions", params={"cursor": "nonsense"}, headers=bearer(mine))
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_input"

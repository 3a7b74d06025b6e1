"""Ending every session of an account (signing out everywhere, a password change or reset, a lock, a
number change) in a number of storage requests that does not grow with each session, on every storage.

Before, `SessionService.end_all` listed the sessions and ended them one by one with `revoke_family`:
one write transaction per session (3,000 sessions held SQLite's write lock 1.56 s while sign-ins
waited) and three DynamoDB requests per session. `end_sessions` now ends them together, and what ending one
guarantees holds for each: its refresh tokens stop working, it is marked revoked and it reaches the
revocation list that `/hello` and the authorizer read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.contract.helpers import NOW, make_refresh, make_user, run_together
from tests.contract.test_sessions import make_session, started
from twostep.domain.models import RefreshToken, Session
from twostep.domain.ports import Storage

MANY = 40  # more than one DynamoDB transaction's worth (33 sessions each)
LATER = NOW + timedelta(seconds=5)


def _with_token(storage: Storage, user_id: str = "user-1", **kw: object) -> tuple[Session, RefreshToken]:
    """A session with a rotated refresh token besides its first one."""
    session = started(storage, user_id, **kw)
    rotated = make_refresh(family=session.id, user_id=user_id)
    storage.add_refresh_token(rotated)
    return session, rotated


def test_every_live_session_but_the_kept_one_ends_with_its_tokens_and_is_listed(storage: Storage) -> None:
    mine = [_with_token(storage) for _ in range(MANY)]
    theirs, their_token = _with_token(storage, "user-2")
    kept, kept_token = mine.pop()
    ended_before = started(storage)
    storage.revoke_family(ended_before.id, NOW)

    ended = storage.end_sessions("user-1", LATER, NOW, keep=kept.id)

    assert sorted(ended) == sorted(s.id for s, _ in mine)
    assert [s.id for s in storage.list_sessions("user-1", NOW)] == [kept.id]
    listed = {r.session_id: r.revoked_at for r in storage.list_revocations(NOW)}
    assert {s.id: listed.get(s.id) for s, _ in mine} == {s.id: LATER for s, _ in mine}
    assert listed[ended_before.id] == NOW  # ended before: left as it was
    assert [t for _, t in mine if storage.claim_refresh_token(t.token_hash, LATER) is not None] == []
    for session, _ in mine:
        assert storage.get_session("user-1", session.id).revoked_at == LATER  # type: ignore[union-attr]
    assert storage.claim_refresh_token(kept_token.token_hash, LATER) is not None
    assert storage.claim_refresh_token(their_token.token_hash, LATER) is not None
    assert theirs.id not in listed


def test_sessions_that_expired_before_the_moment_given_are_left_alone(storage: Storage) -> None:
    """The service passes the moment its grace reaches back to: a session expired within it still ends."""
    within = started(storage, ttl=10)
    long_gone = started(storage, ttl=1)
    assert storage.end_sessions("user-1", NOW + timedelta(seconds=12), NOW + timedelta(seconds=5)) == [
        within.id
    ]
    assert long_gone.id not in {r.session_id for r in storage.list_revocations(NOW)}


def test_ending_again_ends_nothing(storage: Storage) -> None:
    started(storage)
    assert len(storage.end_sessions("user-1", NOW, NOW)) == 1
    assert storage.end_sessions("user-1", LATER, NOW) == []
    assert storage.end_sessions("nobody", NOW, NOW) == []


class _Requests:
    """Counts what a storage sends its database: statements (SQL), calls (DynamoDB), transactions."""

    def __init__(self, storage: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        if hasattr(storage, "_calls"):  # DynamoDB: every client call
            self._wrap(monkeypatch, storage._calls, "call")
        if hasattr(storage, "_transaction"):  # SQLite: a transaction is one request, whatever it runs
            self._wrap(monkeypatch, storage, "_transaction")
            self._wrap(monkeypatch, storage, "_all")
            self._wrap(monkeypatch, storage, "_one")
            self._wrap(monkeypatch, storage, "_execute")
        elif hasattr(storage, "_run"):  # PostgreSQL: every statement
            self._wrap(monkeypatch, storage, "_run")

    def _wrap(self, monkeypatch: pytest.MonkeyPatch, owner: Any, name: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)


@pytest.fixture
def requests_of(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Storage], _Requests]]:
    yield lambda storage: _Requests(storage, monkeypatch)


def test_ending_many_sessions_takes_a_few_requests(
    storage: Storage, requests_of: Callable[[Storage], _Requests]
) -> None:
    """SQL: one transaction or statement; DynamoDB: the Query plus one transaction per 33 sessions.
    Ending them one by one took 40 transactions (SQL) or 121 requests (DynamoDB)."""
    for _ in range(MANY):
        started(storage)
    requests = requests_of(storage)
    assert len(storage.end_sessions("user-1", LATER, NOW)) == MANY
    backend = type(storage).__name__
    expected = {"SqliteStorage": 1, "PostgresStorage": 1, "DynamoDbStorage": 3, "MemoryStorage": 0}
    assert requests.count == expected[backend], backend


def test_a_sign_in_racing_the_end_of_every_session_is_ended_or_stays_whole(storage: Storage) -> None:
    """A session stored while every session ends is either ended with all it needs (marked, listed,
    its token refused) or, stored after, left whole and live: never half of each."""
    user = make_user()
    storage.add_user(user)
    for _ in range(5):
        started(storage, user.id)
    for _ in range(5):
        session = make_session(user.id)
        token = make_refresh(family=session.id, user_id=user.id)

        def act(i: int, s: Session = session, t: RefreshToken = token) -> object:
            return (
                storage.add_session(s, t, unchanged=user)
                if i == 0
                else storage.end_sessions(user.id, NOW, NOW)
            )

        results = run_together(2, act)
        assert results[0] is True, results
        ended = session.id in results[1]  # type: ignore[operator]
        listed = session.id in {r.session_id for r in storage.list_revocations(NOW)}
        stored = storage.get_session(user.id, session.id)
        claimed = storage.claim_refresh_token(token.token_hash, NOW)
        assert stored is not None
        if ended:
            assert listed and stored.revoked_at is not None and claimed is None
        else:
            assert not listed and stored.revoked_at is None and claimed is not None

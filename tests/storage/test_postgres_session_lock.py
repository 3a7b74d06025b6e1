"""PostgreSQL: a session written for the account as its sign-in checked it (`add_session`'s `unchanged`)
while a password change is in flight waits for the change and is then refused.

The conformance suite checks the outcome on every backend; this checks the one interleaving it cannot
reach on its own. Without the row lock, the session's statement reads the account from its snapshot,
taken before the change commits, and may commit after the change has listed the sessions to end."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import psycopg

from tests.contract.helpers import make_refresh, make_user
from tests.contract.test_sessions import make_session
from twostep.storage.postgres import PostgresStorage

WAIT_BOUND_SECONDS = 30  # how long to look for the waiting statement before giving up (not a timing)


def _waiting_on_a_lock(observer: psycopg.Connection[tuple[object, ...]]) -> bool:
    row = observer.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%sessions%'"
    ).fetchone()
    return row is not None and row[0] == 1


def test_a_session_written_during_a_password_change_waits_for_it_and_is_refused(
    storage: PostgresStorage, postgres_url: str
) -> None:
    user = make_user()
    storage.add_user(user)
    session = make_session(user.id)
    token = make_refresh(family=session.id, user_id=user.id)
    with (
        psycopg.connect(postgres_url) as change,
        psycopg.connect(postgres_url, autocommit=True) as observer,
        ThreadPoolExecutor(1) as pool,
    ):
        change.execute("UPDATE users SET password_hash = 'changed' WHERE id = %s", (user.id,))
        pending = pool.submit(storage.add_session, session, token, (), unchanged=user)
        deadline = time.monotonic() + WAIT_BOUND_SECONDS
        while not _waiting_on_a_lock(observer) and not pending.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not pending.done(), "the session was written while the change was not committed"
        change.commit()
        assert pending.result() is False
    assert storage.get_session(user.id, session.id) is None
    assert storage.get_refresh_token(token.token_hash) is None

"""PostgreSQL slow or a table locked: a request ends within a bounded time with a 503, and the pool keeps
no connection in a transaction nor more than its size afterwards.

Before, no statement had a time limit: a request whose statement waited for a lock (a maintenance
`LOCK TABLE`, a long `ALTER TABLE`) waited as long as the lock was held, holding a pooled connection and a
request thread, and the requests after it failed only after their own wait for a connection.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.contract.helpers import make_user
from tests.live import ServerProcess, server_env
from tests.postgres_server import PostgresServer
from twostep.api.causes import describe_cause
from twostep.domain.errors import StorageUnavailable
from twostep.storage.postgres import PostgresStorage
from twostep.storage.postgres_connection import MIGRATION_LOCK_KEY

HELD_SECONDS = 8.0  # how long the lock is held: long past the timeouts below, short if a test fails


@pytest.fixture
def database(postgres_server: PostgresServer) -> Iterator[str]:
    """A database of the test's own, so its backends can be counted."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


class HeldLock:
    """An ACCESS EXCLUSIVE lock on `table`, held in another session until `release` (or HELD_SECONDS)."""

    def __init__(self, url: str, table: str) -> None:
        self._conn = psycopg.connect(url)
        self._conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")  # a name of the test's own
        self._timer = threading.Timer(HELD_SECONDS, self.release)
        self._timer.start()
        self._released = threading.Lock()

    def release(self) -> None:
        with self._released:
            if not self._conn.closed:
                self._conn.rollback()
                self._conn.close()
        self._timer.cancel()


def backends(url: str) -> Counter[str]:
    """The database's server processes other than this one, by state (`idle`, `idle in transaction`…)."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT state FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return Counter(str(state) for (state,) in rows)


def test_a_statement_waiting_for_a_lock_is_cancelled_after_the_timeout(database: str) -> None:
    storage = PostgresStorage(database, pool_size=2, timeout_seconds=1)
    storage.init_schema()
    user = make_user()
    storage.add_user(user)
    lock = HeldLock(database, "users")
    try:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable) as failure:
            storage.get_user(user.id)
        assert time.monotonic() - started < 3, "the statement waited for the lock"
        assert describe_cause(failure.value).startswith("statement timed out")
    finally:
        lock.release()
    assert storage.get_user(user.id) == user  # the same connection serves on
    storage.close()
    assert backends(database) == Counter()


def test_a_migration_waits_past_the_timeout(database: str) -> None:
    """Migrations are exempt: another process's migration may hold the lock longer than a request waits."""
    storage = PostgresStorage(database, pool_size=2, timeout_seconds=1)
    with psycopg.connect(database, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        threading.Timer(2.5, lambda: other.execute("SELECT pg_advisory_unlock_all()")).start()
        assert storage.migrate()  # every step, after the other process's lock went
    storage.close()


def test_storage_migrate_s_pass_over_addresses_waits_past_the_timeout(database: str) -> None:
    """`twostep storage migrate`'s pass over the stored addresses (after the schema steps) reads every
    account in one transaction. Before, unlike the schema steps, it ran under the statement timeout: on a
    table that took longer to read, or locked for longer by another session, the command failed with
    "Storage is unavailable" (exit 4) after TWOSTEP_DATABASE_TIMEOUT_SECONDS."""
    storage = PostgresStorage(database, pool_size=2, timeout_seconds=1)
    storage.init_schema()
    storage.add_user(make_user())
    with psycopg.connect(database) as other:
        other.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        release = threading.Timer(2.5, other.rollback)
        release.start()
        try:
            started = time.monotonic()
            assert storage.canonicalise_emails() == []
            assert time.monotonic() - started > 2, "the pass did not wait for the lock"
        finally:
            release.cancel()  # the test failed before the lock went: the block's end releases it
    assert "idle in transaction" not in backends(database)
    storage.close()


def test_a_served_sign_in_on_a_locked_table_answers_503_in_bounded_time(
    database: str, tmp_path: Path
) -> None:
    """`twostep serve --workers 2`, the accounts table locked: every sign-in answers 503 within the
    connection wait plus the statement timeout, readiness (which reads no account) stays 200, and
    afterwards no backend is left in a transaction nor more open than the pools hold."""
    env = server_env(
        tmp_path,
        TWOSTEP_STORAGE="postgres",
        TWOSTEP_DATABASE_URL=database,
        TWOSTEP_DATABASE_TIMEOUT_SECONDS="1.5",
        TWOSTEP_DATABASE_POOL_SIZE="3",
        TWOSTEP_IP_LOGIN_PER_MINUTE="10000",
    )
    with ServerProcess(tmp_path, env=env, serve_args=("--workers", "2")) as server:
        assert sign_ins(server.base_url, 8) == {401: 8}  # unknown accounts
        lock = HeldLock(database, "users")
        try:
            started = time.monotonic()
            assert sign_ins(server.base_url, 8) == {503: 8}
            assert time.monotonic() - started < 2 * 1.5 + 2.5, "a sign-in waited past its bound"
            assert httpx.get(f"{server.base_url}/healthz/ready", timeout=30).status_code == 200
        finally:
            lock.release()
        assert sign_ins(server.base_url, 8) == {401: 8}
        after = backends(database)
        assert "idle in transaction" not in after and sum(after.values()) <= 2 * 3, after


def sign_ins(base: str, count: int) -> dict[int, int]:
    """`count` password steps of unknown accounts, all at once: how many got each status."""

    def one(index: int) -> int:
        body = {"email": f"nobody{index}@example.com", "password": "correct horse battery staple"}
        return httpx.post(f"{base}/login", json=body, timeout=30).status_code

    with ThreadPoolExecutor(count) as pool:
        return dict(Counter(pool.map(one, range(count))))

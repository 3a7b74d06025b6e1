"""PostgreSQL going away and coming back: requests fail with StorageUnavailable (503), never a driver
exception, and the pool recovers by itself once the server is back (no restart of twostep)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.contract.helpers import make_user
from tests.postgres_server import PostgresServer, postgres_bin
from twostep.domain.errors import StorageUnavailable
from twostep.storage.postgres import PostgresStorage

RECOVERY_DEADLINE_SECONDS = 60  # a bound, not a measurement: psycopg_pool backs off 1 s, 2 s, 4 s...


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of this test's own: it is stopped and started under the storage."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (`make postgres` installs Debian's postgresql)")
    server = PostgresServer(bin_dir).start()
    try:
        yield server
    finally:
        server.stop()


def test_an_outage_is_503_and_the_pool_recovers(own_server: PostgresServer) -> None:
    storage = PostgresStorage(own_server.url("twostep"), pool_size=2, timeout_seconds=2)
    storage.init_schema()
    user = make_user()
    storage.add_user(user)

    own_server.pg_ctl("stop", "-m", "fast")
    for _ in range(3):  # pooled connections are broken now, and new ones are refused
        with pytest.raises(StorageUnavailable):
            storage.get_user(user.id)
    with pytest.raises(StorageUnavailable):
        storage.ping()

    own_server.pg_ctl("start")
    assert recovered(storage, user.id) == user  # the pool reconnects with a backoff of a few seconds
    storage.ping()
    storage.close()


def recovered(storage: PostgresStorage, user_id: str) -> object:
    """The user, read as soon as the pool has a working connection again (a 503 until then)."""
    deadline = time.monotonic() + RECOVERY_DEADLINE_SECONDS
    while True:
        try:
            return storage.get_user(user_id)
        except StorageUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)

"""PostgreSQL going away and coming back: requests fail with StorageUnavailable (503), never a driver
exception, and the pool recovers by itself once the server is back (no restart of twostep). Once a
connection broke, requests fail at once instead of waiting the pool's timeout; a served outage logs its
cause and its end in JSON lines."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.contract.helpers import make_user
from tests.live import ServerProcess, server_env
from tests.postgres_server import PostgresServer, own_postgres_server
from twostep.domain.errors import StorageUnavailable
from twostep.storage.postgres import PostgresStorage
from twostep.storage.postgres_connection import RECONNECT_SECONDS

RECOVERY_DEADLINE_SECONDS = 60  # a bound, not a measurement: psycopg_pool backs off 1 s, 2 s, 4 s...


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of this test's own: it is stopped and started under the storage."""
    with own_postgres_server() as server:
        yield server


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


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + RECOVERY_DEADLINE_SECONDS
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def fail_at_once(storage: PostgresStorage, user_id: str, timeout: float) -> None:
    """Five requests fail, and none waited for the pool's timeout."""
    started = time.monotonic()
    for _ in range(5):
        with pytest.raises(StorageUnavailable):
            storage.get_user(user_id)
    assert time.monotonic() - started < timeout / 4, "a request waited for the pool's timeout"


def test_once_a_connection_breaks_requests_fail_without_waiting_the_pools_timeout(
    own_server: PostgresServer,
) -> None:
    timeout = 60.0  # what each request would wait for a connection, were the server not known gone
    storage = PostgresStorage(own_server.url("twostep"), pool_size=2, timeout_seconds=timeout)
    storage.init_schema()
    user = make_user()
    storage.add_user(user)

    own_server.pg_ctl("stop", "-m", "fast")
    with pytest.raises(StorageUnavailable):  # the pooled connection is broken; the pool tries to replace it
        storage.get_user(user.id)
    fail_at_once(storage, user.id, timeout)
    eventually(lambda: storage.unreachable, f"the pool did not give up after {RECONNECT_SECONDS} s")
    fail_at_once(storage, user.id, timeout)

    own_server.pg_ctl("start")
    assert recovered(storage, user.id) == user  # a request's wait starts a new try to connect
    assert not storage.unreachable
    storage.close()


def test_a_served_outage_answers_503_and_logs_its_cause_and_its_end_in_json(
    own_server: PostgresServer, tmp_path: Path
) -> None:
    url = own_server.create_database()
    env = server_env(tmp_path, TWOSTEP_STORAGE="postgres", TWOSTEP_DATABASE_URL=url, TWOSTEP_LOG_LEVEL="INFO")
    with ServerProcess(tmp_path, env=env) as server:
        base = server.base_url
        own_server.pg_ctl("stop", "-m", "fast")
        assert httpx.get(f"{base}/healthz", timeout=30).status_code == 503  # its pooled connection ended
        said_down = "unreachable: answering 503"  # the storage's line (a 503's cause may say "unreachable")
        eventually(lambda: said_down in server.log_path.read_text(), "no line said the database was down")
        answer = httpx.get(f"{base}/healthz", timeout=30)
        assert answer.status_code == 503 and answer.headers["content-type"].endswith("json")

        own_server.pg_ctl("start")
        eventually(lambda: httpx.get(f"{base}/healthz", timeout=30).status_code == 200, "no recovery")
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines()]  # every line JSON
    said = [(line["logger"], line["level"], line["message"]) for line in lines]
    where = url.removeprefix("postgresql://postgres@")  # host:port/database, as the storage names it
    assert (
        "twostep.storage",
        "ERROR",
        f"database {where} unreachable: answering 503 until it connects",
    ) in said
    assert ("twostep.storage", "INFO", f"database {where} reachable again") in said
    assert any(logger == "psycopg.pool" and level == "WARNING" for logger, level, _ in said)


def test_a_verification_cancel_during_an_outage_is_503_and_cancels_once_the_database_is_back(
    own_server: PostgresServer, tmp_path: Path
) -> None:
    """The cancel fails closed: 503 in the verification API's shape, the code as it was, and a retry
    once the database is back cancels it."""
    url = own_server.create_database()
    env = server_env(tmp_path, TWOSTEP_STORAGE="postgres", TWOSTEP_DATABASE_URL=url)
    phone, order = "+14155552671", {"auth_id": "order-1"}
    with ServerProcess(tmp_path, env=env) as server:
        verifications = f"{server.base_url}/verifications"
        created = httpx.post(verifications, json=order | {"recipient": phone}, timeout=30)
        assert created.status_code == 200, created.text
        code = server.latest_code(phone)
        own_server.pg_ctl("stop", "-m", "fast")
        answer = httpx.delete(verifications, params=order, timeout=30)
        assert answer.status_code == 503 and answer.json()["reason"] == "ServiceUnavailable", answer.text
        own_server.pg_ctl("start")

        def still_pending() -> bool:
            status = httpx.get(f"{verifications}/status", params=order, timeout=30)
            return status.status_code == 200 and status.json()["status"] == "pending"

        eventually(still_pending, "the code was not left as it was")
        retry = httpx.delete(verifications, params=order, timeout=30)
        assert retry.status_code == 200 and retry.json()["status"] == "canceled", retry.text
        check = httpx.get(verifications, params=order | {"code": code}, timeout=30)
        assert check.status_code == 410 and check.json()["reason"] == "ExpiredAuthCode", check.text


def test_a_statement_that_runs_ends_the_unreachable_state(postgres_url: str) -> None:
    """One retry chain can give up while pooled connections still work (the server full for a moment)."""
    storage = PostgresStorage(postgres_url, pool_size=2, timeout_seconds=10)
    storage.init_schema()
    storage._note_unreachable(storage)  # as the pool's `reconnect_failed` calls it
    storage.ping()
    assert not storage.unreachable
    storage.close()


def test_connections_the_server_ended_while_idle_are_replaced_before_a_statement(
    own_server: PostgresServer,
) -> None:
    """A restart ends every idle pooled connection. Before, the pool handed each one out as it was, and the
    first request to take it answered 503 with the server already back: one failed request per pooled
    connection, per process. Now an ended one is dropped before anything is sent, and another taken."""
    storage = PostgresStorage(own_server.url("twostep"), pool_size=3, timeout_seconds=10)
    storage.init_schema()
    user = make_user()
    storage.add_user(user)
    held = [storage._pool.getconn() for _ in range(3)]  # three idle connections in the pool
    for conn in held:
        storage._pool.putconn(conn)

    own_server.pg_ctl("stop", "-m", "fast")
    own_server.pg_ctl("start")
    for _ in range(4):  # nothing asked while the server was down: the first requests find them ended
        assert storage.get_user(user.id) == user
    storage.close()


def test_a_served_restart_fails_no_request_once_the_server_is_back(
    own_server: PostgresServer, tmp_path: Path
) -> None:
    """`twostep serve --workers 2` under concurrent sign-ins, PostgreSQL restarted (immediate shutdown)
    while no request came: every sign-in after it is answered, none with a 503 from a dead pooled
    connection (before, three or so per worker)."""
    url = own_server.create_database()
    env = server_env(
        tmp_path, TWOSTEP_STORAGE="postgres", TWOSTEP_DATABASE_URL=url, TWOSTEP_IP_LOGIN_PER_MINUTE="10000"
    )
    with ServerProcess(tmp_path, env=env, serve_args=("--workers", "2")) as server:
        assert sign_ins(server.base_url, 24) == {401: 24}  # unknown accounts; every worker's pool grows
        own_server.pg_ctl("stop", "-m", "immediate")
        own_server.pg_ctl("start")
        assert sign_ins(server.base_url, 24) == {401: 24}


def sign_ins(base: str, count: int) -> dict[int, int]:
    """`count` password steps of unknown accounts, eight at a time: how many got each status."""

    def one(index: int) -> int:
        body = {"email": f"nobody{index}@example.com", "password": "correct horse battery staple"}
        return httpx.post(f"{base}/login", json=body, timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        return dict(Counter(pool.map(one, range(count))))


FROZEN_SECONDS = 10.0  # how long the server is paused: past the bound below, short if the test fails


def server_processes(server: PostgresServer) -> list[int]:
    """The postmaster and its children (backends, background workers); Linux /proc."""
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    children = [
        int(child)
        for task in Path(f"/proc/{postmaster}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]
    return [postmaster, *children]


def signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def test_a_frozen_server_fails_a_request_within_its_timeout(own_server: PostgresServer) -> None:
    """A server that stops answering (SIGSTOP here: a paused VM, a stalled disk, a failed-over host gone
    without a reset) while the kernel still acknowledges. Before, a request whose statement was sent
    waited for as long as that lasted (the server's statement timeout cannot run); now it fails once the
    timeout and a short grace pass, and the pool recovers after."""
    storage = PostgresStorage(own_server.url("twostep"), pool_size=2, timeout_seconds=1)
    storage.init_schema()
    user = make_user()
    storage.add_user(user)
    processes = server_processes(own_server)
    thaw = threading.Timer(FROZEN_SECONDS, signal_all, (processes, signal.SIGCONT))
    signal_all(processes, signal.SIGSTOP)
    thaw.start()
    try:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            storage.get_user(user.id)
        assert time.monotonic() - started < FROZEN_SECONDS / 2  # the timeout (1 s) and a grace (2 s)
    finally:
        thaw.cancel()
        signal_all(processes, signal.SIGCONT)
    assert recovered(storage, user.id) == user
    storage.close()

"""Storage faults with real causes: a writer lock held past the busy timeout, the database folder removed
or replaced by a file, a read-only database file, a connection closed under us. Every request answers
503 problem+json, never issues a token without the second factor, and leaves nothing half-written."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.adversarial.faultkit import PASSWORD, count_rows, exclusive_lock
from tests.conftest import settings_for_tests
from twostep.api.app import create_app
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.domain.errors import StorageUnavailable
from twostep.domain.models import Message
from twostep.storage.sqlite import SqliteStorage

BUSY_MS = 200
PHONE = "+905555555555"


class LockingStorage(SqliteStorage):
    """SQLite whose write lock another connection takes at a chosen moment (see the subclasses)."""

    holder: sqlite3.Connection | None = None
    armed = True  # one fault per test

    def take_lock(self) -> None:
        if not self.armed:
            return
        self.armed = False
        self.holder = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        self.holder.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        if self.holder is not None:
            self.holder.execute("ROLLBACK")
            self.holder.close()
            self.holder = None


class LockAfterConsume(LockingStorage):
    """Storage fails in the middle of `LoginService.complete`: after the consume, before any token."""

    def attempt_challenge(self, challenge_id: str, now: datetime, consume_if: str | None) -> Any:
        attempted = super().attempt_challenge(challenge_id, now, consume_if)  # counts and consumes
        self.take_lock()
        return attempted


class LockBeforeSession(LockingStorage):
    """Storage fails at the request that opens a session (with a proven number's code, its use too)."""

    armed = False  # armed by the test, after the sign-in that proves the number

    def add_session_counted(self, *args: Any, **kwargs: Any) -> bool:
        self.take_lock()
        return super().add_session_counted(*args, **kwargs)


class LockAfterClaim(LockingStorage):
    """Storage fails in the middle of a refresh: the old token is spent, the new one not yet stored."""

    def claim_refresh_token(
        self, token_hash: str, now: datetime, issued_after: datetime | None = None
    ) -> Any:
        claimed = super().claim_refresh_token(token_hash, now, issued_after)
        self.take_lock()
        return claimed


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder / "twostep.db"


@pytest.fixture
def sqlite_app(
    tmp_path: Path, db_path: Path, clock: FixedClock
) -> Iterator[Callable[..., tuple[Container, TestClient]]]:
    built: list[tuple[Container, TestClient]] = []

    def factory(storage: SqliteStorage | None = None) -> tuple[Container, TestClient]:
        settings = settings_for_tests(
            tmp_path, storage="sqlite", sqlite_path=db_path, sqlite_busy_timeout_ms=BUSY_MS
        )
        container = build(settings, clock=clock, storage=storage)
        client = TestClient(create_app(container), raise_server_exceptions=False)
        built.append((container, client))
        return container, client

    yield factory
    for container, client in built:
        client.close()
        container.close()


def registration(email: str, phone: str = PHONE) -> dict[str, Any]:
    return {
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": email,
        "password": PASSWORD,
        "phoneNumber": phone,
    }


def assert_unavailable(response: Any) -> None:
    """503 problem+json naming storage, with a Retry-After: never a 500, never a token."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "storage_unavailable"
    assert body["status"] == 503
    assert body["detail"]
    assert "accessToken" not in body and "refreshToken" not in body
    assert int(response.headers["retry-after"]) > 0


def start_login(client: TestClient, container: Container, email: str, phone: str = PHONE) -> tuple[str, str]:
    started = client.post("/login", json={"email": email, "password": PASSWORD})
    assert started.status_code == 200, started.text
    code = container.storage.list_outbox(to=phone, last=1)[-1].body.split(" ", 1)[0]
    return started.json()["otpId"], code


def test_locked_database_answers_503_and_half_writes_nothing(
    sqlite_app: Callable[..., tuple[Container, TestClient]], db_path: Path
) -> None:
    container, client = sqlite_app()
    assert client.post("/register", json=registration("ada@example.com")).status_code == 201
    otp_id, code = start_login(client, container, "ada@example.com")
    spare_id, spare_code = start_login(client, container, "ada@example.com")
    pair = client.post(f"/otp/{spare_id}/verify", json={"otp": spare_code}).json()
    families_before = count_rows(db_path, "SELECT COUNT(DISTINCT family_id) FROM refresh_tokens")

    with exclusive_lock(db_path):
        assert_unavailable(client.post("/register", json=registration("bob@example.com", "+905555555556")))
        assert_unavailable(client.post("/login", json={"email": "ada@example.com", "password": PASSWORD}))
        assert_unavailable(client.post(f"/otp/{otp_id}/verify", json={"otp": code}))
        assert_unavailable(client.post("/token/refresh", json={"refreshToken": pair["refreshToken"]}))
        assert_unavailable(
            client.post(
                "/messages",
                json={"content": "hello"},
                headers={"Authorization": f"Bearer {pair['accessToken']}"},
            )
        )

    # Nothing was half-written: no user, no token family, no spent code, no spent refresh token.
    assert count_rows(db_path, "SELECT COUNT(*) FROM users WHERE email = 'bob@example.com'") == 0
    assert count_rows(db_path, "SELECT COUNT(DISTINCT family_id) FROM refresh_tokens") == families_before
    assert count_rows(db_path, "SELECT COUNT(*) FROM messages") == 0
    # So everything simply works once the lock is gone.
    assert client.post(f"/otp/{otp_id}/verify", json={"otp": code}).status_code == 200
    assert client.post("/token/refresh", json={"refreshToken": pair["refreshToken"]}).status_code == 200
    assert client.post("/register", json=registration("bob@example.com", "+905555555556")).status_code == 201


def test_storage_failing_between_consume_and_token_issue(
    sqlite_app: Callable[..., tuple[Container, TestClient]], db_path: Path, tmp_path: Path
) -> None:
    """Documented outcome: 503, the code stays spent, no token exists; the user signs in again."""
    storage = LockAfterConsume(db_path, busy_timeout_ms=BUSY_MS)
    container, client = sqlite_app(storage=storage)
    assert client.post("/register", json=registration("ada@example.com")).status_code == 201
    otp_id, code = start_login(client, container, "ada@example.com")
    try:
        assert_unavailable(client.post(f"/otp/{otp_id}/verify", json={"otp": code}))
    finally:
        storage.release()
    assert count_rows(db_path, "SELECT COUNT(*) FROM refresh_tokens") == 0
    assert count_rows(db_path, "SELECT COUNT(*) FROM challenges WHERE consumed_at IS NOT NULL") == 1
    retry = client.post(f"/otp/{otp_id}/verify", json={"otp": code})
    assert retry.status_code == 410 and retry.json()["code"] == "code_used"
    assert count_rows(db_path, "SELECT COUNT(*) FROM refresh_tokens") == 0


def test_storage_failing_at_a_proven_number_s_session_leaves_the_code_usable(
    sqlite_app: Callable[..., tuple[Container, TestClient]], db_path: Path
) -> None:
    """A proven number's right code is used in the request that opens the session: a failure there is a
    503 that spends nothing, and the same code then signs in."""
    storage = LockBeforeSession(db_path, busy_timeout_ms=BUSY_MS)
    container, client = sqlite_app(storage=storage)
    assert client.post("/register", json=registration("ada@example.com")).status_code == 201
    otp_id, code = start_login(client, container, "ada@example.com")
    assert client.post(f"/otp/{otp_id}/verify", json={"otp": code}).status_code == 200  # proves the number
    otp_id, code = start_login(client, container, "ada@example.com")
    storage.armed = True
    try:
        assert_unavailable(client.post(f"/otp/{otp_id}/verify", json={"otp": code}))
    finally:
        storage.release()
    assert count_rows(db_path, "SELECT COUNT(*) FROM refresh_tokens") == 1
    assert count_rows(db_path, "SELECT attempts FROM challenges WHERE id = ?", (otp_id,)) == 0
    assert client.post(f"/otp/{otp_id}/verify", json={"otp": code}).status_code == 200
    assert count_rows(db_path, "SELECT COUNT(*) FROM refresh_tokens") == 2


def test_registration_when_storage_fails_is_503_not_500(
    sqlite_app: Callable[..., tuple[Container, TestClient]], db_path: Path
) -> None:
    _, client = sqlite_app()
    with exclusive_lock(db_path):
        for index in range(3):
            response = client.post(
                "/register", json=registration(f"u{index}@example.com", f"+9055555555{index}0")
            )
            assert_unavailable(response)
    assert count_rows(db_path, "SELECT COUNT(*) FROM users") == 0


def test_database_folder_removed_fails_closed(
    sqlite_app: Callable[..., tuple[Container, TestClient]], db_path: Path
) -> None:
    """With the folder gone, SQLite would go on writing into the unlinked file and every 201 would be
    lost at the next start; twostep refuses instead."""
    container, client = sqlite_app()
    assert client.post("/register", json=registration("ada@example.com")).status_code == 201
    otp_id, code = start_login(client, container, "ada@example.com")
    shutil.rmtree(db_path.parent)

    assert_unavailable(client.post("/register", json=registration("bob@example.com", "+905555555556")))
    assert_unavailable(client.post("/login", json={"email": "ada@example.com", "password": PASSWORD}))
    assert_unavailable(client.post(f"/otp/{otp_id}/verify", json={"otp": code}))
    assert_unavailable(client.get("/healthz"))
    assert not db_path.parent.exists()


def test_database_folder_replaced_by_a_file(
    sqlite_app: Callable[..., tuple[Container, TestClient]], db_path: Path
) -> None:
    container, client = sqlite_app()
    assert client.post("/register", json=registration("ada@example.com")).status_code == 201
    otp_id, code = start_login(client, container, "ada@example.com")
    shutil.rmtree(db_path.parent)
    db_path.parent.write_text("not a folder")

    assert_unavailable(client.post(f"/otp/{otp_id}/verify", json={"otp": code}))
    assert_unavailable(client.post("/register", json=registration("bob@example.com", "+905555555556")))
    assert_unavailable(client.get("/healthz"))


def _make_read_only(path: Path) -> Callable[[], None]:
    """Read-only even for root: the immutable attribute (chattr +i); plain chmod for other users."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        return lambda: path.chmod(0o644)
    result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if result.returncode != 0:
        pytest.skip("running as root and this file system has no immutable attribute (chattr +i)")
    return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)


def test_read_only_database_file(
    sqlite_app: Callable[..., tuple[Container, TestClient]], db_path: Path
) -> None:
    container, client = sqlite_app()
    assert client.post("/register", json=registration("ada@example.com")).status_code == 201
    client.close()
    container.close()
    undo = _make_read_only(db_path)
    try:
        try:
            container, client = sqlite_app()
        except StorageUnavailable as exc:
            assert str(db_path) in exc.message  # a clean start-up failure naming the file
            return
        assert_unavailable(client.post("/register", json=registration("bob@example.com", "+905555555556")))
        assert_unavailable(client.post("/login", json={"email": "ada@example.com", "password": PASSWORD}))
    finally:
        undo()
    assert count_rows(db_path, "SELECT COUNT(*) FROM users") == 1


def test_every_driver_error_becomes_storage_unavailable(db_path: Path, clock: FixedClock) -> None:
    """Constraint errors outside user creation and a connection closed under us were raw 500s."""
    storage = SqliteStorage(db_path, busy_timeout_ms=BUSY_MS)
    storage.init_schema()
    message = Message(id="m1", user_id="u1", author="a", content="x", created_at=clock.now())
    storage.add_message(message)
    with pytest.raises(StorageUnavailable):
        storage.add_message(message)
    storage.ping()  # leaves one idle connection in the pool: the next call borrows it
    storage._idle[-1].conn.close()  # what a shutdown racing a request leaves behind
    with pytest.raises(StorageUnavailable):
        storage.get_user("u1")
    assert storage.list_messages(10).items == [message]  # and the next call reconnects
    storage.close()


def test_open_connection_refuses_to_write_into_a_removed_file(db_path: Path, clock: FixedClock) -> None:
    """The same thread, the same open connection: before the fix this write 'succeeded' into the
    unlinked inode and the account vanished at the next start."""
    storage = SqliteStorage(db_path, busy_timeout_ms=BUSY_MS)
    storage.init_schema()
    assert storage.get_user("nobody") is None
    shutil.rmtree(db_path.parent)
    message = Message(id="m1", user_id="u1", author="a", content="x", created_at=clock.now())
    with pytest.raises(StorageUnavailable):
        storage.add_message(message)
    db_path.parent.mkdir()
    storage.init_schema()  # an operator restores the folder: a fresh, reachable database again
    assert storage.list_messages(10).items == []
    storage.close()


def test_storage_failing_in_the_middle_of_a_refresh_ends_the_session(
    sqlite_app: Callable[..., tuple[Container, TestClient]], db_path: Path
) -> None:
    """Documented outcome: 503; the presented token is spent and no successor exists, so presenting it
    again counts as reuse and ends the family (fail closed). The user signs in again."""
    storage = LockAfterClaim(db_path, busy_timeout_ms=BUSY_MS)
    container, client = sqlite_app(storage=storage)
    assert client.post("/register", json=registration("ada@example.com")).status_code == 201
    otp_id, code = start_login(client, container, "ada@example.com")
    pair = client.post(f"/otp/{otp_id}/verify", json={"otp": code}).json()
    try:
        assert_unavailable(client.post("/token/refresh", json={"refreshToken": pair["refreshToken"]}))
    finally:
        storage.release()
    assert count_rows(db_path, "SELECT COUNT(*) FROM refresh_tokens") == 1
    retry = client.post("/token/refresh", json={"refreshToken": pair["refreshToken"]})
    assert retry.status_code == 401 and retry.json()["code"] == "refresh_token_reused"
    assert count_rows(db_path, "SELECT COUNT(*) FROM refresh_tokens WHERE revoked_at IS NULL") == 0


def test_verification_api_under_a_locked_database(
    sqlite_app: Callable[..., tuple[Container, TestClient]], db_path: Path
) -> None:
    """The Flowroute-compatible API answers 503 `ServiceUnavailable` in its own error shape and creates no code."""
    container, client = sqlite_app()
    created = client.post("/verifications", json={"auth_id": "order-1", "recipient": PHONE})
    assert created.status_code in (200, 201), created.text
    code = container.storage.list_outbox(to=PHONE, last=1)[-1].body.split(" ", 1)[0]
    with exclusive_lock(db_path):
        for response in (
            client.post("/verifications", json={"auth_id": "order-2", "recipient": PHONE}),
            client.get("/verifications", params={"auth_id": "order-1", "code": code}),
        ):
            assert response.status_code == 503, response.text
            assert response.json()["reason"] == "ServiceUnavailable"
            assert "authenticated" not in response.json()
    assert count_rows(db_path, "SELECT COUNT(*) FROM challenges") == 1  # order-2 was never created
    checked = client.get("/verifications", params={"auth_id": "order-1", "code": code})
    assert checked.status_code == 200 and checked.json()["authenticated"] is True

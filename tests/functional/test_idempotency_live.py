"""Done means, against a live `twostep serve` (console SMS read back through the outbox): a replayed
create or login sends nothing and answers the same; the same key with another body is 422; parallel
duplicates send one SMS; keys expire (and `twostep storage purge` deletes them)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import ServerProcess
from twostep.client import LoginChallenge, TwoStepClient

PASSWORD = "correct horse battery staple"
EXPIRY_DEADLINE_SECONDS = 30.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("idempotency-live")) as live:
        yield live


def account(server: ServerProcess, n: int) -> tuple[dict[str, str], str]:
    """A new account (email n, its own number): its login body and phone number."""
    email, phone = f"idem{n}@example.com", f"+9055512{n:05d}"
    body = {"firstName": "A", "lastName": "B", "email": email, "password": PASSWORD, "phoneNumber": phone}
    created = httpx.post(f"{server.base_url}/register", json=body, timeout=30)
    assert created.status_code == 201, created.text
    return {"email": email, "password": PASSWORD}, phone


def post(server: ServerProcess, path: str, body: dict[str, Any], key: str) -> httpx.Response:
    return httpx.post(f"{server.base_url}{path}", json=body, headers={"Idempotency-Key": key}, timeout=60)


def together(count: int, action: Any) -> list[httpx.Response]:
    barrier = threading.Barrier(count)

    def run(_: int) -> httpx.Response:
        barrier.wait()
        response: httpx.Response = action()
        return response

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_a_replayed_login_gives_the_same_otp_id_and_one_sms(server: ServerProcess) -> None:
    login, phone = account(server, 1)
    first = post(server, "/login", login, "login-replay")
    assert first.status_code == 200, first.text
    again = post(server, "/login", login, "login-replay")
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["otpId"] == first.json()["otpId"]
    assert len(server.outbox(phone)) == 1
    reused = post(server, "/login", login | {"password": "something else"}, "login-replay")
    # Another password is no repeat: it is refused as a wrong password, never given the stored success.
    assert reused.status_code == 401 and "idempotent-replayed" not in reused.headers
    assert reused.json()["code"] == "invalid_credentials"
    assert len(server.outbox(phone)) == 1


def test_a_replayed_create_sends_nothing(server: ServerProcess) -> None:
    phone = "+14155550101"
    body = {"auth_id": "order-live", "recipient": phone}
    first = post(server, "/verifications", body, "create-replay")
    assert first.status_code == 200, first.text
    again = post(server, "/verifications", body, "create-replay")
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert len(server.outbox(phone)) == 1
    assert post(server, "/verifications", body | {"auth_id": "other"}, "create-replay").status_code == 422


def test_parallel_duplicate_logins_send_one_sms(server: ServerProcess) -> None:
    login, phone = account(server, 2)
    answers = together(8, lambda: post(server, "/login", login, "login-parallel"))
    statuses = sorted(answer.status_code for answer in answers)
    # A repeat's password check is counted as a sign-in's is (a stored answer is no free guess), and a
    # check counts as a failure until its password is settled: a burst past the free failures waits (429).
    assert set(statuses) <= {200, 409, 429}, statuses
    succeeded = [answer.json() for answer in answers if answer.status_code == 200]
    assert succeeded and all(body == succeeded[0] for body in succeeded)
    for answer in answers:
        if answer.status_code == 409:
            assert answer.json()["code"] == "idempotency_request_in_progress"
            assert answer.headers["retry-after"] == "1"
        if answer.status_code == 429:
            assert "retry-after" in answer.headers and "otpId" not in answer.json()
    assert len(server.outbox(phone)) == 1


def test_parallel_duplicate_resends_send_one_sms(server: ServerProcess) -> None:
    login, phone = account(server, 3)
    otp_id = post(server, "/login", login, "resend-parallel-login").json()["otpId"]
    answers = together(6, lambda: post(server, f"/otp/{otp_id}/resend", {}, "resend-parallel"))
    assert {answer.status_code for answer in answers} <= {202, 409}
    assert len(server.outbox(phone)) == 2  # the login's text and one resend


def test_the_standalone_verification_app_replays_at_its_root(tmp_path: Path) -> None:
    phone = "+14155550102"
    body = {"auth_id": "order-root", "recipient": phone}
    with ServerProcess(tmp_path, app="verification") as standalone:
        answers = together(6, lambda: post(standalone, "/", body, "root-parallel"))
        assert {answer.status_code for answer in answers} <= {200, 409}
        again = post(standalone, "/", body, "root-parallel")
        assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
        assert len(standalone.outbox(phone)) == 1


def test_keys_expire_and_are_purged(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, TWOSTEP_IDEMPOTENCY_TTL_SECONDS="1") as short:
        login, phone = account(short, 4)
        assert post(short, "/login", login, "purged").status_code == 200  # expires before "expiring"
        first = post(short, "/login", login, "expiring").json()
        deadline = time.monotonic() + EXPIRY_DEADLINE_SECONDS
        fresh = None
        while time.monotonic() < deadline:
            answer = post(short, "/login", login, "expiring")
            assert answer.status_code == 200, answer.text
            if "idempotent-replayed" not in answer.headers:
                fresh = answer.json()
                break
            assert answer.json() == first  # replays send nothing until the key expires
            time.sleep(0.2)
        assert fresh is not None, "the key never expired"
        assert fresh["otpId"] != first["otpId"]
        assert len(short.outbox(phone)) == 3
        purged = short.cli("storage", "purge")
        assert purged.returncode == 0, purged.stderr
        deleted = re.search(r"(\d+) idempotency_keys", purged.stdout)
        assert deleted is not None and int(deleted.group(1)) >= 1, purged.stdout


def test_the_python_client_retries_safely_with_a_key(server: ServerProcess) -> None:
    login, phone = account(server, 5)
    with TwoStepClient(server.base_url) as api:
        first = api.login(login["email"], PASSWORD, idempotency_key="client-retry")
        again = api.login(login["email"], PASSWORD, idempotency_key="client-retry")
    assert isinstance(first, LoginChallenge) and isinstance(again, LoginChallenge)
    assert again.otp_id == first.otp_id
    assert len(server.outbox(phone)) == 1

"""Against a live `twostep serve` whose hashing thread hands results back in groups: many logins at
once each get their own answer (no result handed to the wrong request, none lost), and a lone login
afterwards is answered without waiting for a group to fill."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.live import ServerProcess

PASSWORD = "correct horse battery staple"
USERS = 4
CONCURRENT = 16


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    workdir: Path = tmp_path_factory.mktemp("hash-groups-live")
    with ServerProcess(
        workdir,
        TWOSTEP_PASSWORD_HASH_THREADS="1",  # one hashing thread, so the logins queue behind each other
        TWOSTEP_PASSWORD_HASH_GROUP="8",
        TWOSTEP_IP_LOGIN_PER_MINUTE="100000",
        TWOSTEP_IP_REGISTER_PER_HOUR="100000",
        TWOSTEP_SMS_PER_NUMBER_10MIN="1000",
        TWOSTEP_SMS_PER_NUMBER_DAY="10000",
    ) as running:
        for i in range(USERS):
            body = {
                "email": f"group{i}@example.com",
                "password": PASSWORD,
                "firstName": "A",
                "lastName": "B",
                "phoneNumber": f"+1415555{2680 + i}",
            }
            assert httpx.post(f"{running.base_url}/register", json=body, timeout=60).status_code == 201
        yield running


def login(server: ServerProcess, attempt: int) -> tuple[int, int, str]:
    """Attempt `attempt`: odd ones an account's right password, even ones an unknown email (hashed
    against the dummy hash; wrong passwords of real accounts would soon lock them); (attempt, status,
    otpId or '')."""
    email = f"group{attempt % USERS}@example.com" if attempt % 2 else f"nobody{attempt}@example.com"
    body = {"email": email, "password": PASSWORD}
    answer = httpx.post(f"{server.base_url}/login", json=body, timeout=120)
    otp_id = answer.json().get("otpId", "") if answer.status_code == 200 else ""
    return attempt, answer.status_code, otp_id


def test_concurrent_logins_each_get_their_own_answer(server: ServerProcess) -> None:
    with ThreadPoolExecutor(CONCURRENT) as clients:
        answers = list(clients.map(lambda i: login(server, i), range(3 * CONCURRENT)))
    for attempt, status, otp_id in answers:
        assert status == (200 if attempt % 2 else 401), (attempt, status)
        assert bool(otp_id) == (attempt % 2 == 1)
    issued = [otp_id for _, _, otp_id in answers if otp_id]
    assert len(set(issued)) == len(issued)  # one challenge per right password, none shared


def test_a_lone_login_after_the_burst_is_answered(server: ServerProcess) -> None:
    # With nothing else queued its result is handed back as soon as it is made: if it were held for
    # a group that never fills, this request would never be answered (the client's timeout fails it).
    assert login(server, 1)[1] == 200
    assert login(server, 2)[1] == 401

"""Done means: every way a session ends reaches the API of a live `twostep serve` within 5 s.

Two servers share one SQLite file (and one issuer and key file), as several workers or Lambda
containers share a table: a session ended through one, or by the CLI in yet another process, must be
refused by the other, which learns of it only from the revocation list in storage.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import ServerProcess, server_env
from twostep.client import LoginChallenge, TwoStepAPIError, TwoStepClient

PASSWORD = "correct horse battery staple"
REACH_SECONDS = 5.0  # the promise: refused by every protected route within 5 s
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


class Pair:
    """Two live servers over one database."""

    def __init__(self, workdir: Path, **extra: str) -> None:
        env = server_env(workdir) | {"TWOSTEP_ISSUER": "http://twostep.test"} | extra
        self.a = ServerProcess(workdir, env=env)
        self.b = ServerProcess(workdir, env=env)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    pair = Pair(tmp_path_factory.mktemp("sessions-live"))
    with pair.a, pair.b:
        yield pair


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['accessToken']}"}


def register(server: ServerProcess, email: str, phone: str | None) -> str:
    body = {"firstName": "A", "lastName": "B", "email": email, "password": PASSWORD}
    if phone:
        body["phoneNumber"] = phone
    answer = httpx.post(f"{server.base_url}/register", json=body, timeout=30)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def sign_in(server: ServerProcess, email: str, phone: str, agent: str = FIREFOX) -> dict[str, Any]:
    headers = {"User-Agent": agent}
    started = httpx.post(
        f"{server.base_url}/login", json={"email": email, "password": PASSWORD}, headers=headers, timeout=30
    )
    assert started.status_code == 200, started.text
    verified = httpx.post(
        f"{server.base_url}/otp/{started.json()['otpId']}/verify",
        json={"otp": server.latest_code(phone)},
        headers=headers,
        timeout=30,
    )
    assert verified.status_code == 200, verified.text
    return dict(verified.json())


def assert_refused_in_time(
    server: ServerProcess, tokens: dict[str, Any], code: str = "session_revoked"
) -> None:
    """Polls /hello (then checks every protected read) from the moment the session ended."""
    deadline = time.monotonic() + REACH_SECONDS
    while True:
        answer = httpx.get(f"{server.base_url}/hello", headers=bearer(tokens), timeout=10)
        if answer.status_code == 401:
            break
        assert answer.status_code == 200, answer.text
        assert time.monotonic() < deadline, f"still accepted {REACH_SECONDS} s after the session ended"
        time.sleep(0.1)
    assert answer.json()["code"] == code
    for path in ("/me", "/sessions"):
        other = httpx.get(f"{server.base_url}{path}", headers=bearer(tokens), timeout=10)
        assert (other.status_code, other.json()["code"]) == (401, code), path


def accepted(server: ServerProcess, tokens: dict[str, Any]) -> bool:
    return httpx.get(f"{server.base_url}/hello", headers=bearer(tokens), timeout=10).status_code == 200


def test_logout_on_one_server_reaches_the_other(servers: Pair) -> None:
    register(servers.a, "logout@example.com", "+14155552672")
    tokens = sign_in(servers.a, "logout@example.com", "+14155552672")
    assert accepted(servers.a, tokens) and accepted(servers.b, tokens)
    out = httpx.post(
        f"{servers.b.base_url}/logout", json={"refreshToken": tokens["refreshToken"]}, timeout=10
    )
    assert out.status_code == 204
    assert_refused_in_time(servers.b, tokens)
    assert_refused_in_time(servers.a, tokens)


def test_session_list_and_ending_sessions(servers: Pair) -> None:
    a, b = servers.a, servers.b
    register(a, "list@example.com", "+14155552673")
    mine = sign_in(a, "list@example.com", "+14155552673")
    phone = sign_in(a, "list@example.com", "+14155552673", agent="curl/8.5.0")
    tablet = sign_in(a, "list@example.com", "+14155552673", agent="python-httpx/0.27")
    listed = httpx.get(f"{a.base_url}/sessions", headers=bearer(mine), timeout=10).json()["sessions"]
    assert [(s["client"], s["ip"], s["current"]) for s in listed] == [
        ("python-httpx", "127.0.0.0/24", False),
        ("curl", "127.0.0.0/24", False),
        ("Firefox on Linux", "127.0.0.0/24", True),
    ]
    phone_id = listed[1]["id"]
    ended = httpx.delete(f"{b.base_url}/sessions/{phone_id}", headers=bearer(mine), timeout=10)
    assert ended.status_code == 204
    assert_refused_in_time(a, phone)
    refresh = httpx.post(
        f"{a.base_url}/token/refresh", json={"refreshToken": phone["refreshToken"]}, timeout=10
    )
    assert (refresh.status_code, refresh.json()["code"]) == (401, "session_revoked")
    others = httpx.delete(f"{b.base_url}/sessions", headers=bearer(mine), timeout=10)
    assert others.json() == {"ended": 1}
    assert_refused_in_time(a, tablet)
    assert accepted(a, mine) and accepted(b, mine)
    remaining = httpx.get(f"{a.base_url}/sessions", headers=bearer(mine), timeout=10).json()["sessions"]
    assert [s["current"] for s in remaining] == [True]


def test_cli_lock_and_delete_reach_the_api(servers: Pair) -> None:
    a = servers.a
    user_id = register(a, "cli@example.com", "+14155552680")
    tokens = sign_in(a, "cli@example.com", "+14155552680")
    locked = a.cli("users", "lock", user_id)
    assert locked.returncode == 0, locked.stderr
    assert_refused_in_time(a, tokens)
    login = httpx.post(
        f"{a.base_url}/login", json={"email": "cli@example.com", "password": PASSWORD}, timeout=30
    )
    assert (login.status_code, login.json()["code"]) == (403, "account_locked")
    assert a.cli("users", "unlock", user_id).returncode == 0
    tokens = sign_in(a, "cli@example.com", "+14155552680")
    deleted = a.cli("users", "delete", user_id, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert_refused_in_time(a, tokens)
    assert a.cli("users", "show", user_id).returncode == 3


def test_deleting_my_account(servers: Pair) -> None:
    a, b = servers.a, servers.b
    user_id = register(a, "me@example.com", "+905555555552")
    tokens = sign_in(a, "me@example.com", "+905555555552")
    other = sign_in(a, "me@example.com", "+905555555552")
    posted = httpx.post(f"{a.base_url}/messages", json={"content": "bye"}, headers=bearer(tokens), timeout=10)
    assert posted.status_code == 201
    wrong = httpx.request(
        "DELETE", f"{b.base_url}/me", json={"currentPassword": "wrong"}, headers=bearer(tokens), timeout=30
    )
    assert (wrong.status_code, wrong.json()["code"]) == (403, "invalid_current_password")
    done = httpx.request(
        "DELETE", f"{b.base_url}/me", json={"currentPassword": PASSWORD}, headers=bearer(tokens), timeout=30
    )
    assert done.status_code == 204
    assert_refused_in_time(a, other)
    board = httpx.get(f"{a.base_url}/messages", timeout=10).json()["messages"]
    assert [(m["author"], m["content"]) for m in board if m["content"] == "bye"] == [
        ("Deleted account", "bye")
    ]
    trail = a.cli("audit", "tail", "--user", user_id, "--json")
    assert trail.returncode == 0 and json.loads(trail.stdout) == []
    login = httpx.post(
        f"{a.base_url}/login", json={"email": "me@example.com", "password": PASSWORD}, timeout=30
    )
    assert login.status_code == 401


def test_second_factor_policy_switch(tmp_path: Path) -> None:
    env = server_env(tmp_path) | {"TWOSTEP_ISSUER": "http://twostep.test"}
    with ServerProcess(tmp_path, env=env | {"TWOSTEP_REQUIRE_SECOND_FACTOR": "false"}) as relaxed:
        register(relaxed, "one@example.com", None)
        register(relaxed, "two@example.com", "+14155552671")
        one = httpx.post(
            f"{relaxed.base_url}/login", json={"email": "one@example.com", "password": PASSWORD}, timeout=30
        ).json()
        two = sign_in(relaxed, "two@example.com", "+14155552671")
        assert accepted(relaxed, one) and accepted(relaxed, two)
    with ServerProcess(tmp_path, env=env | {"TWOSTEP_REQUIRE_SECOND_FACTOR": "true"}) as strict:
        assert_refused_in_time(strict, one, "second_factor_required")
        refresh = httpx.post(
            f"{strict.base_url}/token/refresh", json={"refreshToken": one["refreshToken"]}, timeout=10
        )
        assert (refresh.status_code, refresh.json()["code"]) == (401, "second_factor_required")
        assert accepted(strict, two)
        renewed = httpx.post(
            f"{strict.base_url}/token/refresh", json={"refreshToken": two["refreshToken"]}, timeout=10
        )
        assert renewed.status_code == 200


def test_password_change_and_reset_reach_the_other_server(servers: Pair) -> None:
    a, b = servers.a, servers.b
    register(a, "pw@example.com", "+14155552674")
    laptop = sign_in(a, "pw@example.com", "+14155552674")
    phone = sign_in(a, "pw@example.com", "+14155552674", agent="curl/8.5.0")
    new_password = "a different horse battery staple"
    changed = httpx.post(
        f"{b.base_url}/me/password",
        json={"currentPassword": PASSWORD, "newPassword": new_password},
        headers=bearer(laptop),
        timeout=30,
    )
    assert changed.status_code == 204, changed.text
    assert_refused_in_time(a, phone)  # the other session ends ...
    assert accepted(a, laptop)  # ... the one that changed the password goes on

    started = httpx.post(f"{b.base_url}/password/forgot", json={"email": "pw@example.com"}, timeout=30)
    assert started.status_code == 202, started.text
    reset = httpx.post(
        f"{b.base_url}/password/reset",
        json={
            "resetId": started.json()["resetId"],
            "code": b.latest_code("+14155552674"),
            "newPassword": PASSWORD,
        },
        timeout=30,
    )
    assert reset.status_code == 204, reset.text
    assert_refused_in_time(a, laptop)  # a reset ends every session


def test_the_python_client_lists_and_ends_sessions_and_deletes_the_account(servers: Pair) -> None:
    a = servers.a
    register(a, "client@example.com", "+14155552675")
    other = sign_in(a, "client@example.com", "+14155552675", agent="curl/8.5.0")
    with TwoStepClient(a.base_url) as client:
        challenge = client.login("client@example.com", PASSWORD)
        assert isinstance(challenge, LoginChallenge)
        client.verify(challenge.otp_id, a.latest_code("+14155552675"))
        listed = client.sessions()
        assert [(s.client, s.current) for s in listed] == [("python-httpx", True), ("curl", False)]
        assert client.end_other_sessions() == 1
        assert_refused_in_time(a, other)
        (mine,) = client.sessions()
        with pytest.raises(TwoStepAPIError) as wrong:
            client.delete_account("not it")
        assert (wrong.value.status, wrong.value.code) == (403, "invalid_current_password")
        client.delete_account(PASSWORD)
        with pytest.raises(TwoStepAPIError) as gone:
            client.end_session(mine.id, access_token=other["accessToken"])
        assert gone.value.status == 401


def session_id(tokens: dict[str, Any]) -> str:
    payload = tokens["accessToken"].split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sid"])


def test_a_session_left_idle_ends_at_its_next_refresh(tmp_path: Path) -> None:
    """Before, a live server refreshed a session however long it had sat unused, until its absolute end.

    A live server's clock cannot be moved, so the session is made idle by moving its refresh token's issue
    time (the session's last refresh) 31 minutes back in the server's database."""
    env = server_env(tmp_path) | {"TWOSTEP_SESSION_IDLE_LIFETIME_SECONDS": "1800"}
    with ServerProcess(tmp_path, env=env) as server:
        register(server, "idle@example.com", "+14155552679")
        busy = sign_in(server, "idle@example.com", "+14155552679")
        idle = sign_in(server, "idle@example.com", "+14155552679", agent="curl/8.5.0")
        with sqlite3.connect(tmp_path / "twostep.db") as db:
            moved = db.execute(
                "UPDATE refresh_tokens SET created_at = created_at - 1860 WHERE family_id = ?",
                (session_id(idle),),
            )
            assert moved.rowcount == 1
        db.close()
        for _ in range(2):
            refresh = httpx.post(
                f"{server.base_url}/token/refresh", json={"refreshToken": idle["refreshToken"]}, timeout=10
            )
            assert (refresh.status_code, refresh.json()["code"]) == (401, "session_revoked")
        assert_refused_in_time(server, idle)  # listed: its access token, still unexpired, stops too
        renewed = httpx.post(
            f"{server.base_url}/token/refresh", json={"refreshToken": busy["refreshToken"]}, timeout=10
        )
        assert renewed.status_code == 200, renewed.text
        assert accepted(server, renewed.json())

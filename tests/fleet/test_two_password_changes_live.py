"""Two password changes sent at once with one current password, on a live `twostep serve`: exactly one is
made, the other answers `410 credentials_changed`, and the password that works is the one that answered
`204`.

Before a new hash was written only over the credentials its request checked, both checked the current
password before either wrote, both answered `204`, and the later write silently replaced the earlier: 30
rounds out of 30 on SQLite and on PostgreSQL (docs/development/performance.md, twenty-second pass)."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from tests.adversarial.faultkit import server_env
from tests.live import ServerProcess

EMAIL = "two@example.com"
ROUNDS = 3


def _change_both_at_once(
    server: ServerProcess, tokens: list[str], current: str, news: list[str]
) -> list[int]:
    barrier = threading.Barrier(len(news))
    answers = [0] * len(news)

    def change(index: int) -> None:
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            body = {"currentPassword": current, "newPassword": news[index]}
            barrier.wait()
            headers = {"Authorization": f"Bearer {tokens[index]}"}
            answers[index] = http.post("/me/password", json=body, headers=headers).status_code

    threads = [threading.Thread(target=change, args=(index,)) for index in range(len(news))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_of_two_changes_made_at_once_with_one_password_exactly_one_is_made(tmp_path: Path) -> None:
    env = server_env(tmp_path) | {"TWOSTEP_REQUIRE_SECOND_FACTOR": "false"}
    current = "correct horse battery staple 0"
    with (
        ServerProcess(tmp_path / "server", env=env) as server,
        httpx.Client(base_url=server.base_url) as http,
    ):
        body = {"firstName": "T", "lastName": "C", "email": EMAIL, "password": current}
        assert http.post("/register", json=body).status_code == 201
        for round_ in range(ROUNDS):
            tokens = [
                http.post("/login", json={"email": EMAIL, "password": current}).json()["accessToken"]
                for _ in range(2)
            ]
            news = [f"new passphrase {round_} {side}" for side in ("a", "b")]
            answers = _change_both_at_once(server, tokens, current, news)
            assert sorted(answers) == [204, 410], answers
            made = news[answers.index(204)]
            works = [
                p
                for p in news
                if http.post("/login", json={"email": EMAIL, "password": p}).status_code == 200
            ]
            assert works == [made], (answers, works)
            current = made

"""40 parallel verifies of one code, spread over the 2 worker processes of `twostep serve --workers 2`,
give exactly one token pair, on SQLite and on PostgreSQL (a live server, a real database), at an
account's first sign-in and at a later one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.live import ServerProcess

PASSWORD = "correct horse battery staple"
PHONE = "+14155552671"
CLIENTS = 40


def written_bytes(pid: int) -> int:
    """Bytes the process wrote (sockets included): it grows only in a worker that answers requests."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/PID/io")


async def verify_together(base_url: str, otp_id: str, code: str) -> list[httpx.Response]:
    """Each client first opens its own kept-alive connection (one at a time, so the kernel hands them
    to both workers' accept()), then all send the same code at once."""
    clients = [
        httpx.AsyncClient(base_url=base_url, timeout=60, limits=httpx.Limits(max_connections=1))
        for _ in range(CLIENTS)
    ]
    try:
        for client in clients:
            assert (await client.get("/healthz")).status_code == 200
        return list(
            await asyncio.gather(*(c.post(f"/otp/{otp_id}/verify", json={"otp": code}) for c in clients))
        )
    finally:
        for client in clients:
            await client.aclose()


def sign_in_race(server: ServerProcess, email: str) -> tuple[list[httpx.Response], set[int]]:
    """A login, then its code sent by all the clients at once: the answers, and the workers that wrote."""
    started = httpx.post(f"{server.base_url}/login", json={"email": email, "password": PASSWORD}, timeout=60)
    assert started.status_code == 200, started.text
    code = server.latest_code(PHONE)
    workers = server.worker_pids()
    before = {pid: written_bytes(pid) for pid in workers}
    answers = asyncio.run(verify_together(server.base_url, started.json()["otpId"], code))
    return answers, {pid for pid in workers if written_bytes(pid) > before[pid]}


def assert_one_token_pair(answers: list[httpx.Response]) -> None:
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses.count(200) == 1, statuses
    assert all(400 <= status < 500 for status in statuses if status != 200), statuses
    winner = next(answer.json() for answer in answers if answer.status_code == 200)
    assert winner["accessToken"] and winner["refreshToken"]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_forty_parallel_verifies_over_two_workers_give_one_token_pair(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """The first sign-in (it proves the number: the code is checked step by step), then a second one
    (a proven number's right code is used in the request that opens the session)."""
    extra = {}
    if backend == "postgres":
        extra = {
            "TWOSTEP_STORAGE": "postgres",
            "TWOSTEP_DATABASE_URL": request.getfixturevalue("postgres_url"),
        }
    with ServerProcess(tmp_path, serve_args=("--workers", "2"), **extra) as server:
        workers = server.worker_pids()
        assert len(workers) == 2
        body = {"firstName": "R", "lastName": "C", "email": "race@example.com", "password": PASSWORD}
        registered = httpx.post(f"{server.base_url}/register", json=body | {"phoneNumber": PHONE}, timeout=60)
        assert registered.status_code == 201, registered.text
        first, served = sign_in_race(server, body["email"])
        later, served_later = sign_in_race(server, body["email"])

    assert_one_token_pair(first)
    assert_one_token_pair(later)
    assert served == workers, "both workers answered some of the verifies"
    assert served_later == workers, "both workers answered some of the later verifies"

"""A bounded mixed workload against a live `twostep serve`, on SQLite and on PostgreSQL: 32 concurrent
clients sign up, sign in, send wrong and right codes, resend, refresh, post messages and end sessions (by
signing out, or by presenting a spent refresh token again) for TWOSTEP_SOAK_SECONDS (10 s in `make test`,
60 s in `make soak`). No 5xx, no unexpected answer, an ended session's tokens refused at once by the process
that ended it, and afterwards the database agrees with the answers: users = 201s of /register, SMS in the
outbox = accepted logins + resends, token families = verified codes, messages = 201s of /messages, listed
revocations = ended sessions."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from pathlib import Path
from typing import LiteralString, Protocol

import httpx
import psycopg
import pytest

from tests.adversarial.faultkit import PASSWORD, LiveServer, count_rows, latest_code, server_env
from tests.live import code_in

CLIENTS = 32
SIGN_UP_EVERY = 3  # rounds per account before a client signs up again
ENDS_EVERY = 2  # every second round ends its session


class Tally:
    def __init__(self) -> None:
        self.ok: Counter[str] = Counter()
        self.unexpected: list[str] = []

    def check(self, response: httpx.Response, name: str, *expected: int) -> bool:
        """Count the answer as `name` when it is the first expected status; note anything else."""
        if response.status_code not in expected:
            self.unexpected.append(f"{name}: {response.status_code} {response.text[:200]}")
            return False
        if response.status_code == expected[0]:
            self.ok[name] += 1
        return True


class Database(Protocol):
    """What the soak reads from the server's storage, as an operator could."""

    def latest_code(self, phone: str) -> str: ...

    def count(self, sql: LiteralString) -> int: ...


class SqliteDatabase:
    def __init__(self, path: Path) -> None:
        self.path = path

    def latest_code(self, phone: str) -> str:
        return latest_code(self.path, phone)

    def count(self, sql: LiteralString) -> int:
        return count_rows(self.path, sql)


class PostgresDatabase:
    def __init__(self, url: str) -> None:
        self.connection = psycopg.connect(url, autocommit=True)  # shared: psycopg serialises its use

    def latest_code(self, phone: str) -> str:
        sql = "SELECT body FROM outbox WHERE to_number = %s ORDER BY seq DESC LIMIT 1"
        row = self.connection.execute(sql, (phone,)).fetchone()
        assert row is not None, "no SMS in the outbox"
        return code_in(str(row[0]))

    def count(self, sql: LiteralString) -> int:
        row = self.connection.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


async def code_for(db: Database, phone: str) -> str:
    return await asyncio.to_thread(db.latest_code, phone)


async def sign_up(http: httpx.AsyncClient, tally: Tally, client: int, account: int) -> tuple[str, str]:
    email, phone = f"soak-{client}-{account}@example.com", f"+90555{client:02d}{account:05d}"
    body = {"firstName": "S", "lastName": "K", "email": email, "password": PASSWORD, "phoneNumber": phone}
    tally.check(await http.post("/register", json=body), "register", 201)
    return email, phone


async def one_round(
    http: httpx.AsyncClient, db: Database, tally: Tally, email: str, phone: str, n: int
) -> None:
    login = await http.post("/login", json={"email": email, "password": PASSWORD})
    if not tally.check(login, "login", 200):
        return
    otp_id = login.json()["otpId"]
    if n % 2 == 0 and not tally.check(await http.post(f"/otp/{otp_id}/resend"), "resend", 202):
        return
    code = await code_for(db, phone)
    wrong = "9" * len(code) if code != "9" * len(code) else "8" * len(code)
    tally.check(await http.post(f"/otp/{otp_id}/verify", json={"otp": wrong}), "wrong_code", 401)
    verified = await http.post(f"/otp/{otp_id}/verify", json={"otp": code})
    if not tally.check(verified, "verify", 200):
        return
    pair = verified.json()
    refreshed = await http.post("/token/refresh", json={"refreshToken": pair["refreshToken"]})
    if not tally.check(refreshed, "refresh", 200):
        return
    headers = {"Authorization": f"Bearer {pair['accessToken']}"}
    tally.check(await http.post("/messages", json={"content": f"round {n}"}, headers=headers), "message", 201)
    tally.check(await http.get("/messages", params={"limit": 5}), "list_messages", 200)
    if n % ENDS_EVERY == ENDS_EVERY - 1:
        await end_session(http, tally, pair["refreshToken"], refreshed.json(), n // ENDS_EVERY)


async def end_session(
    http: httpx.AsyncClient, tally: Tally, spent: str, pair: dict[str, str], n: int
) -> None:
    """Sign out, or present the spent refresh token again (a reuse, which ends the session too). Either
    way this process refuses the session's access token at once and its refresh token from then on."""
    if n % 2 == 0:
        ending = await http.post("/logout", json={"refreshToken": pair["refreshToken"]})
        ended = tally.check(ending, "logout", 204)
    else:
        ended = tally.check(await http.post("/token/refresh", json={"refreshToken": spent}), "reuse", 401)
    if not ended:
        return
    hello = await http.get("/hello", headers={"Authorization": f"Bearer {pair['accessToken']}"})
    if tally.check(hello, "ended_access", 401) and hello.json()["code"] != "session_revoked":
        tally.unexpected.append(f"ended_access: {hello.text[:200]}")
    ended_refresh = await http.post("/token/refresh", json={"refreshToken": pair["refreshToken"]})
    tally.check(ended_refresh, "ended_refresh", 401)


async def client_loop(base_url: str, db: Database, tally: Tally, client: int, deadline: float) -> None:
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        n = 0
        while loop.time() < deadline:
            if n % SIGN_UP_EVERY == 0:
                email, phone = await sign_up(http, tally, client, n // SIGN_UP_EVERY)
            await one_round(http, db, tally, email, phone, n)
            n += 1


async def soak(base_url: str, db: Database, seconds: float) -> Tally:
    tally = Tally()
    deadline = asyncio.get_running_loop().time() + seconds
    await asyncio.gather(*(client_loop(base_url, db, tally, c, deadline) for c in range(CLIENTS)))
    return tally


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_soak_mixed_workload(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    seconds = float(os.environ.get("TWOSTEP_SOAK_SECONDS", "10"))
    db: Database
    if backend == "postgres":
        url = request.getfixturevalue("postgres_url")
        env = server_env(tmp_path, TWOSTEP_STORAGE="postgres", TWOSTEP_DATABASE_URL=url)
        db = PostgresDatabase(url)
        request.addfinalizer(db.connection.close)
    else:
        env = server_env(tmp_path)
        db = SqliteDatabase(Path(env["TWOSTEP_SQLITE_PATH"]))
    with LiveServer(env, tmp_path / "server.log") as server:
        tally = asyncio.run(soak(server.base_url, db, seconds))
    assert tally.unexpected == [], tally.unexpected[:10]
    assert tally.ok["verify"] > 0 and tally.ok["resend"] > 0
    assert db.count("SELECT COUNT(*) FROM users") == tally.ok["register"]
    assert db.count("SELECT COUNT(*) FROM outbox") == tally.ok["login"] + tally.ok["resend"]
    assert db.count("SELECT COUNT(DISTINCT family_id) FROM refresh_tokens") == tally.ok["verify"]
    assert db.count("SELECT COUNT(*) FROM refresh_tokens") == tally.ok["verify"] + tally.ok["refresh"]
    assert db.count("SELECT COUNT(*) FROM messages") == tally.ok["message"]
    assert db.count("SELECT COUNT(*) FROM challenges WHERE consumed_at IS NOT NULL") == tally.ok["verify"]
    ended = tally.ok["logout"] + tally.ok["reuse"]
    assert ended > 0 and tally.ok["ended_access"] == tally.ok["ended_refresh"] == ended
    assert db.count("SELECT COUNT(*) FROM revocations") == ended
    assert db.count("SELECT COUNT(*) FROM sessions WHERE revoked_at IS NOT NULL") == ended

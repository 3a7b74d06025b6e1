"""Housekeeping against a live server: waves of sign-ins leave no rows behind once they expire, so the
row count stays bounded however long the server runs; `twostep storage purge` does the same on demand."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx

from tests.live import ServerProcess

PASSWORD = "correct horse battery staple"
PHONE = "+14155552671"
SIGN_INS_PER_WAVE = 4
WAVES = 2
WAIT_SECONDS = 90.0


def rows(database: Path, *tables: str) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        return sum(int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) for table in tables)


def sign_in(server: ServerProcess, http: httpx.Client, email: str) -> None:
    started = http.post("/login", json={"email": email, "password": PASSWORD})
    assert started.status_code == 200, started.text
    verified = http.post(f"/otp/{started.json()['otpId']}/verify", json={"otp": server.latest_code(PHONE)})
    assert verified.status_code == 200, verified.text


def test_expired_rows_are_removed_in_the_background_wave_after_wave(tmp_path: Path) -> None:
    database = tmp_path / "twostep.db"
    with (
        ServerProcess(
            tmp_path,
            TWOSTEP_OTP_TTL_SECONDS="5",
            TWOSTEP_PURGE_GRACE_SECONDS="10",  # the outbox keeps a code this long: time to read it
            TWOSTEP_HOUSEKEEPING_INTERVAL_SECONDS="1",
            TWOSTEP_SMS_PER_NUMBER_10MIN="1000",
            TWOSTEP_SMS_PER_NUMBER_DAY="1000",
        ) as server,
        httpx.Client(base_url=server.base_url, timeout=30) as http,
    ):
        body = {"firstName": "S", "lastName": "K", "email": "soak@example.com", "password": PASSWORD}
        assert http.post("/register", json=body | {"phoneNumber": PHONE}).status_code == 201
        for wave in range(WAVES):
            for _ in range(SIGN_INS_PER_WAVE):
                sign_in(server, http, "soak@example.com")
            assert rows(database, "challenges", "outbox") >= SIGN_INS_PER_WAVE  # the wave's codes are there
            deadline = time.monotonic() + WAIT_SECONDS
            while rows(database, "challenges", "outbox") and time.monotonic() < deadline:
                time.sleep(0.5)
            left = rows(database, "challenges", "outbox")
            assert left == 0, f"wave {wave}: {left} expired rows still there after {WAIT_SECONDS} s"
        assert rows(database, "audit") >= WAVES * SIGN_INS_PER_WAVE  # kept: within the retention


def test_storage_purge_removes_expired_rows_on_demand(tmp_path: Path) -> None:
    database = tmp_path / "twostep.db"
    with ServerProcess(tmp_path, TWOSTEP_HOUSEKEEPING_INTERVAL_SECONDS="86400") as server:
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            body = {"firstName": "P", "lastName": "G", "email": "purge@example.com", "password": PASSWORD}
            assert http.post("/register", json=body | {"phoneNumber": PHONE}).status_code == 201
            sign_in(server, http, "purge@example.com")
        purge_env = {"TWOSTEP_PURGE_GRACE_SECONDS": "0", "TWOSTEP_AUDIT_RETENTION_DAYS": "1"}
        before = rows(database, "outbox")
        result = server.cli_with(purge_env, "storage", "purge")
        assert result.returncode == 0, result.stderr
        assert f"{before} outbox" in result.stdout and rows(database, "outbox") == 0

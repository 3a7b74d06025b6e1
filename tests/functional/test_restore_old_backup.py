"""Restoring an older SQLite backup over a deployment, as docs/operations.md (Backups) says, on live servers.

The backup holds the sessions as they were when it was taken: one ended since is live again, and a
refresh token spent since works again. The documented step after a restore, `twostep users sign-out-all`,
ends them all. The live file goes aside with its WAL: one a dead server left would be read into the copy.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx

from tests.adversarial.live_server import LiveServer
from tests.live import server_env

PHONE = "+14155550101"


def refresh(server: LiveServer, refresh_token: str) -> int:
    answer = httpx.post(f"{server.base_url}/token/refresh", json={"refreshToken": refresh_token}, timeout=30)
    return answer.status_code


def hello(server: LiveServer, tokens: dict[str, Any]) -> int:
    headers = {"Authorization": f"Bearer {tokens['accessToken']}"}
    return httpx.get(f"{server.base_url}/hello", headers=headers, timeout=30).status_code


def refused_within_seconds(server: LiveServer, tokens: dict[str, Any]) -> bool:
    """The server reads the list of ended sessions every few seconds (docs/sessions.md: within 5 s)."""
    deadline = time.monotonic() + 5
    while hello(server, tokens) == 200:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def restore(workdir: Path, backup: Path) -> None:
    """The documented restore (docs/operations.md, Backups): servers stopped, the live file moved aside
    with the -wal and -shm beside it, the backup put in its place."""
    (workdir / "replaced").mkdir(exist_ok=True)
    for name in ("twostep.db", "twostep.db-wal", "twostep.db-shm"):
        if (workdir / name).exists():
            (workdir / name).rename(workdir / "replaced" / name)
    shutil.copyfile(backup, workdir / "twostep.db")


def test_a_restore_after_a_crash_as_documented_leaves_an_intact_database(tmp_path: Path) -> None:
    """The docs said to put the database back, nothing about the files beside it: after a server died
    (SIGKILL) its WAL stayed beside the restored file, SQLite read it in, and the server started on a
    database with broken indexes (rows missing from the challenges' indexes). The documented steps now
    move the WAL aside with the file; this runs them."""
    env = server_env(tmp_path) | {"TWOSTEP_ISSUER": "http://twostep.test"}
    server = LiveServer(tmp_path, env=env).start()
    try:
        server.sign_in("a@example.com", PHONE)
        assert server.cli("storage", "backup", str(tmp_path / "backup.db")).returncode == 0
        for n in range(3):
            server.sign_in(f"b{n}@example.com", f"+1415555020{n}")
    finally:
        server.kill()
    assert (tmp_path / "twostep.db-wal").stat().st_size > 0  # what the crash left

    restore(tmp_path, tmp_path / "backup.db")
    with LiveServer(tmp_path, env=env) as server:
        server.sign_in("a@example.com", PHONE)
        with sqlite3.connect(tmp_path / "twostep.db") as db:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert db.execute("SELECT email FROM users").fetchall() == [("a@example.com",)]


def test_sign_out_all_ends_the_sessions_an_older_backup_brings_back(tmp_path: Path) -> None:
    """Before, no command ended every session: after an older backup was restored, a session signed out
    since (or ended after a theft) refreshed again, and so did a refresh token spent since, and the docs
    said only that what came after the backup was gone. `twostep users sign-out-all` now ends every
    session of every account; the docs name it as a step of the restore."""
    env = server_env(tmp_path) | {"TWOSTEP_ISSUER": "http://twostep.test"}
    with LiveServer(tmp_path, env=env) as server:
        signed_out = server.sign_in("a@example.com", PHONE)
        refreshed = server.sign_in("a@example.com", PHONE)
        backed_up = server.cli("storage", "backup", str(tmp_path / "backup.db"))
        assert backed_up.returncode == 0, backed_up.stderr
        logout = httpx.post(
            f"{server.base_url}/logout", json={"refreshToken": signed_out["refreshToken"]}, timeout=30
        )
        assert logout.status_code == 204
        assert refresh(server, refreshed["refreshToken"]) == 200  # spends it
        assert refresh(server, refreshed["refreshToken"]) == 401

    restore(tmp_path, tmp_path / "backup.db")
    with LiveServer(tmp_path, env=env) as server:
        assert refresh(server, signed_out["refreshToken"]) == 200  # what the backup holds: live again
        assert hello(server, refreshed) == 200

        ended = server.cli("users", "sign-out-all", "--yes")
        assert ended.returncode == 0, ended.stderr
        assert "session(s) ended" in ended.stdout
        assert refresh(server, refreshed["refreshToken"]) == 401
        assert refused_within_seconds(server, refreshed)  # its access tokens too
        again = server.sign_in("a@example.com", PHONE)  # signing in again works
        assert hello(server, again) == 200

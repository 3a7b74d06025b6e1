"""Restoring an older SQLite backup over a deployment, as docs/operations.md (Backups) says, on live servers.

The backup holds the sessions as they were when it was taken: one ended since is live again, and a
refresh token spent since works again. The documented step after a restore, `twostep users sign-out-all`,
ends them all.
"""

from __future__ import annotations

import shutil
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
    """The documented restore: servers stopped, the database (and nothing beside it) put back."""
    for suffix in ("", "-wal", "-shm"):
        (workdir / f"twostep.db{suffix}").unlink(missing_ok=True)
    shutil.copyfile(backup, workdir / "twostep.db")


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

"""A master-key rotation against live servers on SQLite, with no downtime: a server started with the old
master key keeps answering sign-ins after `twostep keys rotate-master-key` (with the keys it read, and one
log line saying why), one started with the new key and the old one as previous opens the keys before and
after, one restarted with the new key alone serves the same keys, and a process given only the old key
afterwards refuses to start with one line naming the setting.

Before, no command re-sealed the keys: a leaked master key (with any backup) opened them for ever."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.fleet.test_shared_keys import (
    PASSWORD,
    PHONE,
    kid_of,
    one_line_refusal,
    register_and_start,
    shared_env,
)
from tests.live import ServerProcess, code_in, outbox, run_cli

OLD = "the-old-master-key-0123456789abcdefghij"
NEW = "the-new-master-key-0123456789abcdefghij"


def _deployment_on_the_old_key(tmp_path: Path) -> dict[str, str]:
    """The deployment's settings before the rotation, its storage initialised: the old master key, the keys
    re-read every second, room for the texts of every sign-in."""
    env = shared_env(
        tmp_path / "db" / "twostep.db",
        TWOSTEP_MASTER_KEY=OLD,
        TWOSTEP_KEYS_REFRESH_SECONDS="1",
        TWOSTEP_SMS_PER_NUMBER_10MIN="1000",
        TWOSTEP_SMS_PER_NUMBER_DAY="1000",
    )
    assert run_cli(env, "storage", "init", cwd=tmp_path).returncode == 0
    return env


def _sign_in(server: ServerProcess, env: dict[str, str], email: str) -> str:
    """A whole sign-in at `server`; the code read from the outbox with `env` (a process that opens the keys)."""
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        started = http.post("/login", json={"email": email, "password": PASSWORD})
        assert started.status_code == 200, started.text
        code = code_in(str(outbox(env, PHONE, last=1)[-1]["body"]))
        verified = http.post(f"/otp/{started.json()['otpId']}/verify", json={"otp": code})
        assert verified.status_code == 200, verified.text
        return str(verified.json()["accessToken"])


def _hello(server: ServerProcess, token: str) -> int:
    return httpx.get(f"{server.base_url}/hello", headers={"Authorization": f"Bearer {token}"}).status_code


def test_servers_keep_signing_in_across_a_master_key_rotation_and_a_restart_with_the_new_key(
    tmp_path: Path,
) -> None:
    old_env = _deployment_on_the_old_key(tmp_path)
    rolling_env = old_env | {"TWOSTEP_MASTER_KEY": NEW, "TWOSTEP_MASTER_KEY_PREVIOUS": OLD}
    new_env = old_env | {"TWOSTEP_MASTER_KEY": NEW}
    email = "rekey@example.com"
    with (
        ServerProcess(tmp_path / "old", env=old_env) as old,
        ServerProcess(tmp_path / "b", env=rolling_env) as b,
    ):
        with httpx.Client(base_url=old.base_url, timeout=30) as http:
            register_and_start(http, email)
        before = _sign_in(old, old_env, email)
        assert _hello(b, before) == 200

        rotated = run_cli(rolling_env, "keys", "rotate-master-key", cwd=tmp_path)
        assert rotated.returncode == 0, rotated.stderr
        time.sleep(2.5)  # both servers re-read the (re-sealed) record twice meanwhile
        for server in (old, b, old):
            token = _sign_in(server, new_env, email)
            assert _hello(old, token) == 200 and _hello(b, token) == 200
        assert _hello(old, before) == 200

        line = one_line_refusal(old_env, tmp_path / "late", "TWOSTEP_MASTER_KEY")
        assert "rotate-master-key" in line and OLD not in line
        with ServerProcess(tmp_path / "new", env=new_env) as restarted:  # the old server's replacement
            assert _hello(restarted, before) == 200  # the same signing keys: tokens stay valid
            assert _hello(old, _sign_in(restarted, new_env, email)) == 200
            jwks = [httpx.get(f"{s.base_url}/.well-known/jwks.json").json() for s in (old, b, restarted)]
            assert jwks[0] == jwks[1] == jwks[2]
    log = old.log_path.read_text()
    assert log.count("sealed with another master key") == 1, log[-2000:]  # once, not every refresh
    for server in (old, b):
        assert OLD not in server.log_path.read_text() and NEW not in server.log_path.read_text()


def test_a_signing_key_rotation_mid_master_key_rotation_reaches_the_server_with_only_the_old_key(
    tmp_path: Path,
) -> None:
    """Before, `twostep keys rotate` run after `keys rotate-master-key` but before every server had the new
    master key sealed the new signing key with the new master key alone: the server still on the old one
    never read it, refused every token the new key signed (401 at /hello) and signed on with the retired
    key. Run with TWOSTEP_MASTER_KEY_PREVIOUS (as the restarted servers are), the rotation seals the keys
    with the old key too: both servers sign with the new key and accept each other's tokens."""
    old_env = _deployment_on_the_old_key(tmp_path)
    new_env = old_env | {"TWOSTEP_MASTER_KEY": NEW, "TWOSTEP_MASTER_KEY_PREVIOUS": OLD}
    email = "rolling@example.com"
    with (
        ServerProcess(tmp_path / "old", env=old_env) as old,
        ServerProcess(tmp_path / "new", env=new_env) as new,
    ):
        with httpx.Client(base_url=old.base_url, timeout=30) as http:
            register_and_start(http, email)
        before = {server: _sign_in(server, old_env, email) for server in (old, new)}
        assert all(_hello(other, token) == 200 for token in before.values() for other in (old, new))

        assert run_cli(new_env, "keys", "rotate-master-key", cwd=tmp_path).returncode == 0
        rotated = run_cli(new_env, "keys", "rotate", "--activation-delay", "0", cwd=tmp_path)
        assert rotated.returncode == 0, rotated.stderr
        time.sleep(2.5)  # both servers re-read the keys twice meanwhile
        after = {server: _sign_in(server, new_env, email) for server in (new, old)}
        new_kid = kid_of(after[new])
        assert new_kid != kid_of(before[new])
        assert kid_of(after[old]) == new_kid  # the old server signs with it
        for token in (*before.values(), *after.values()):
            assert _hello(old, token) == 200 and _hello(new, token) == 200
        jwks = [httpx.get(f"{s.base_url}/.well-known/jwks.json").json() for s in (old, new)]
        assert jwks[0] == jwks[1]
        assert "also sealed with the previous master key" in rotated.stdout and OLD not in rotated.stdout
        line = one_line_refusal(old_env, tmp_path / "late", "TWOSTEP_MASTER_KEY")  # the old key never starts
        assert "rotate-master-key" in line and OLD not in line
    for server in (old, new):
        assert OLD not in server.log_path.read_text() and NEW not in server.log_path.read_text()

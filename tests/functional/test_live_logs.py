"""The log of a live `twostep serve`: PIDs, ports, user and request ids come out whole; secrets do not."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.live import ServerProcess, run_cli, server_env
from twostep.domain.passwords import PasswordHasher

PHONE = "+14155552671"
PASSWORD = "correct horse battery staple"
REQUEST_ID = "20261128074721000123"  # all digits: the old scrubber blanked it


def test_ids_pids_and_ports_are_whole_and_secrets_hidden(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, TWOSTEP_LOG_LEVEL="INFO") as server:
        with httpx.Client(base_url=server.base_url, headers={"X-Request-Id": REQUEST_ID}) as client:
            user = {
                "firstName": "Ada",
                "lastName": "Lovelace",
                "email": "logs@example.com",
                "password": PASSWORD,
                "phoneNumber": PHONE,
            }
            assert client.post("/register", json=user).status_code == 201
            started = client.post("/login", json={"email": user["email"], "password": PASSWORD}).json()
            code = server.latest_code(PHONE)
            client.post(f"/otp/{started['otpId']}/verify", json={"otp": code}).raise_for_status()
        user_id = server.cli("users", "list", "--json")
        pid = server.process.pid if server.process else 0
        # A second server on the same port fails; its log line names the port.
        louder = server.env | {"TWOSTEP_LOG_LEVEL": "INFO"}
        clash = run_cli(louder, "serve", "--port", str(server.port), cwd=server.workdir)
        log = server.log_path.read_text()
    ids = [row["id"] for row in json.loads(user_id.stdout)]
    assert ids and all(user_id in log for user_id in ids)
    assert REQUEST_ID in log
    # The start names what checks passwords (the same install as this test's: the same answer).
    assert f"password checks: {PasswordHasher().computed_by()}" in log
    assert f'"pid": {pid}' in log or f"[{pid}]" in log
    assert clash.returncode != 0 and str(server.port) in clash.stderr, clash.stderr
    for secret in (PASSWORD, code, PHONE, PHONE[1:]):
        assert secret not in log and secret not in clash.stderr


def test_console_format_is_readable(tmp_path: Path) -> None:
    env = server_env(tmp_path) | {"TWOSTEP_LOG_FORMAT": "console", "TWOSTEP_LOG_LEVEL": "INFO"}
    with ServerProcess(tmp_path, env=env) as server:
        httpx.get(f"{server.base_url}/healthz/ready")
        log = server.log_path.read_text()
    assert " INFO    " in log and not log.lstrip().startswith("{"), log
    assert f"pid={server.process.pid if server.process else 0}" in log

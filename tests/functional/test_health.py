"""`/healthz/live` and `/healthz/ready` on a live `twostep serve` (both apps); ready fails on a read-only
database, and when every SMS provider refuses its credentials, and says why, in the answer and in the log."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.live import ServerProcess, assert_not_ready
from tests.sms.provider_server import ProviderServer, Reply

VERIFY_KEY = "health-test-key-0123456789"


@contextmanager
def immutable(paths: list[Path]) -> Iterator[None]:
    """Read-only even for root and even through open descriptors: the immutable attribute."""
    if os.geteuid() != 0:
        pytest.skip("needs root for chattr +i (chmod does not stop a process's open descriptors)")
    present = [str(p) for p in paths if p.exists()]
    if subprocess.run(["chattr", "+i", *present], capture_output=True, check=False).returncode != 0:
        pytest.skip("this file system has no immutable attribute (chattr +i)")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *present], check=True)


def ready_until(url: str, status: int, within: float = 20.0) -> httpx.Response:
    """Poll until `url` answers `status` (readiness keeps its outcome for a second)."""
    deadline = time.monotonic() + within
    while True:
        response = httpx.get(url, timeout=10)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


@pytest.mark.parametrize("app", ["api", "verification"])
def test_ready_turns_503_on_a_read_only_database(tmp_path: Path, app: str) -> None:
    with ServerProcess(tmp_path, app, TWOSTEP_VERIFY_API_KEYS=VERIFY_KEY) as server:
        base = server.base_url
        assert httpx.get(f"{base}/healthz/live").json() == {"status": "ok"}
        assert httpx.get(f"{base}/healthz/ready").json() == {"status": "ok", "storage": "sqlite"}
        assert httpx.get(f"{base}/healthz").status_code == 200
        db = tmp_path / "twostep.db"
        # Not the -shm file: SQLite maps it into memory, and a write fault there is a SIGBUS, not an error.
        with immutable([db, db.with_name("twostep.db-wal")]):
            failed = ready_until(f"{base}/healthz/ready", 503)
            assert failed.status_code == 503, failed.text
            problem = failed.json()
            assert problem["code"] == "storage_unavailable"
            assert problem["cause"], problem
            assert httpx.get(f"{base}/healthz").status_code == 503
            assert httpx.get(f"{base}/healthz/live").status_code == 200  # the process itself is fine
        assert ready_until(f"{base}/healthz/ready", 200).status_code == 200
        logged = [json.loads(line) for line in server.log_tail().splitlines() if line.startswith("{")]
        unavailable = [entry for entry in logged if entry.get("message") == "dependency unavailable"]
        assert unavailable and all(entry.get("cause") for entry in unavailable), logged


WRONG_TOKEN = "rotated-twilio-token-0123456789"


def test_ready_turns_503_when_twilio_refuses_the_token(tmp_path: Path) -> None:
    """Before, a server whose only SMS provider refused its credentials stayed ready and failed every text."""
    twilio = ProviderServer(default=Reply.json(401, {"code": 20003, "message": "Authenticate"})).start()
    try:
        with ServerProcess(
            tmp_path,
            TWOSTEP_SMS_PROVIDERS="twilio",
            TWOSTEP_TWILIO_BASE_URL=twilio.url,
            TWOSTEP_TWILIO_ACCOUNT_SID="AC0123456789abcdef0123456789abcdef",
            TWOSTEP_TWILIO_AUTH_TOKEN=WRONG_TOKEN,
            TWOSTEP_TWILIO_FROM="+15005550006",
        ) as server:
            failed = assert_not_ready(server, "sms_credentials_refused", "twilio: HTTP 401")
            log = server.log_tail()
        assert WRONG_TOKEN not in failed.text and WRONG_TOKEN not in log
        assert "twilio: HTTP 401" in log
        assert [request.method for request in twilio.requests] == ["GET"]  # nothing sent
    finally:
        twilio.stop()

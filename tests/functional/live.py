"""Run `twostep serve` as a real process on a free loopback port, and read its SMS outbox via the CLI."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

START_TIMEOUT_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def live_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without any TWOSTEP_* setting, plus a private database and key file."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TWOSTEP_")}
    env |= {
        "TWOSTEP_STAGE": "dev",
        "TWOSTEP_STORAGE": "sqlite",
        "TWOSTEP_SQLITE_PATH": str(tmp_path / "live.db"),
        "TWOSTEP_JWT_KEY_FILE": str(tmp_path / "live-keys.json"),
        "TWOSTEP_SMS_PROVIDERS": "console",
        "TWOSTEP_RESEND_COOLDOWN_SECONDS": "0",
    }
    return env | extra


def twostep(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twostep", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def live_server(tmp_path: Path, app: str = "api", **extra_env: str) -> Iterator[tuple[str, dict[str, str]]]:
    """Yields the base URL and the environment (for CLI calls against the same database)."""
    port = free_port()
    env = live_env(tmp_path, **extra_env)
    log_path = tmp_path / f"serve-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "twostep", "serve", "--app", app, "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(process, base_url, log_path)
        yield base_url, env
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _wait_until_answering(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            httpx.get(f"{base_url}/openapi.json", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"server did not answer within {START_TIMEOUT_SECONDS} s:\n{log_path.read_text()}")


def outbox_code(env: dict[str, str], cwd: Path, to: str) -> str:
    """The code in the newest SMS to `to`, read with `twostep sms outbox --json`."""
    result = twostep(env, cwd, "sms", "outbox", "--json", "--to", to, "--last", "1")
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    assert entries, f"no SMS to {to}"
    match = re.match(r"\d+", entries[-1]["body"])
    assert match is not None
    return match.group(0)

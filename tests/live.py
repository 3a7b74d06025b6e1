"""`twostep serve` as a real process on a free loopback port, and the `twostep` CLI against its storage.

One helper for every suite that needs a live server (clients, browser, fuzzing, faults, crash, soak).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

START_TIMEOUT_SECONDS = 60.0
SRC = Path(__file__).resolve().parents[1] / "src"
_CODE = re.compile(r"\b(\d{4,10})\b")


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Prod with a real SMS provider (nothing connects to it at start), an API key, and no e-mail provider.
PROD_WITHOUT_EMAIL = {
    "TWOSTEP_STAGE": "prod",
    "TWOSTEP_MASTER_KEY": "m" * 43,
    "TWOSTEP_SMS_PROVIDERS": "flowroute",
    "TWOSTEP_FLOWROUTE_ACCESS_KEY": "access",
    "TWOSTEP_FLOWROUTE_SECRET_KEY": "secret",
    "TWOSTEP_FLOWROUTE_FROM": "12065550100",
    "TWOSTEP_VERIFY_API_KEYS": "k" * 40,
}


def server_env(workdir: Path, port: int | None = None, **extra: str) -> dict[str, str]:
    """The caller's environment without TWOSTEP_* settings, with storage and keys in `workdir`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TWOSTEP_")}
    # The code under test: the caller's PYTHONPATH (a worktree) first, then this checkout's src.
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH", ""), str(SRC)) if p)
    env |= {
        "TWOSTEP_STAGE": "dev",
        "TWOSTEP_STORAGE": "sqlite",
        "TWOSTEP_SQLITE_PATH": str(workdir / "twostep.db"),
        "TWOSTEP_JWT_KEY_FILE": str(workdir / "keys.json"),
        "TWOSTEP_SMS_PROVIDERS": "console",
        "TWOSTEP_RESEND_COOLDOWN_SECONDS": "0",
        # Off unless a test sets them (tests/fraud): the other suites send many codes from one address.
        "TWOSTEP_IP_SMS_PER_HOUR": "100000",
        "TWOSTEP_ACCOUNT_SMS_PER_DAY": "100000",
        "TWOSTEP_FRAUD_GUARD": "false",
        # The resets asked for per email keep their defaults: more than the text caps allow are refused at
        # start, and unset they fit whatever caps a test sets (tests asking for many raise both).
        "TWOSTEP_LOG_LEVEL": "WARNING",
    }
    if port is not None:
        env["TWOSTEP_ISSUER"] = f"http://127.0.0.1:{port}"
    return env | extra


def run_cli(
    env: dict[str, str], *args: str, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m twostep <args>` with `env`; never raises for a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", "twostep", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def outbox(env: dict[str, str], to: str, last: int = 50) -> list[dict[str, Any]]:
    """The console provider's messages to `to`, oldest first (`twostep sms outbox --json`)."""
    result = run_cli(env, "sms", "outbox", "--json", "--to", to, "--last", str(last))
    assert result.returncode == 0, result.stderr
    entries: list[dict[str, Any]] = json.loads(result.stdout)
    return entries


def code_in(body: str) -> str:
    match = _CODE.search(body)
    assert match is not None, "the SMS carries no code"
    return match.group(1)


def assert_not_ready(server: ServerProcess, code: str, cause: str) -> httpx.Response:
    """The live server's readiness answers 503 `code` naming `cause` while its liveness stays 200; that
    answer."""
    failed = httpx.get(f"{server.base_url}/healthz/ready", timeout=10)
    assert failed.status_code == 503, failed.text
    assert (failed.json()["code"], failed.json()["cause"]) == (code, cause)
    assert httpx.get(f"{server.base_url}/healthz/live").status_code == 200
    return failed


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


class ServerProcess:
    """`twostep serve` in a child process; a context manager that stops it (or `kill` it like a crash)."""

    def __init__(
        self,
        workdir: Path,
        app: str = "api",
        env: dict[str, str] | None = None,
        serve_args: tuple[str, ...] = (),
        **extra_env: str,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.app = app
        self.serve_args = serve_args  # e.g. ("--workers", "2")
        self.port = free_port()
        self.env = (env or server_env(workdir, self.port)) | extra_env
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"serve-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        """Start and wait until the server answers. Raises: RuntimeError with the log's tail."""
        command = [sys.executable, "-m", "twostep", "serve", "--app", self.app, "--port", str(self.port)]
        command += self.serve_args
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, env=self.env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"twostep serve exited: {self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/openapi.json", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"twostep serve did not answer in time: {self.log_tail()}")

    def log_tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flush, exactly what a crash does."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def worker_pids(self) -> set[int]:
        """The server's uvicorn worker processes (`--workers N`); Linux /proc only."""
        assert self.process is not None
        children: set[int] = set()
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            children |= {int(child) for child in (task / "children").read_text().split()}
        # multiprocessing's resource tracker is a child too, but serves nothing
        return {pid for pid in children if b"resource_tracker" not in _cmdline(pid)}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The CLI against this server's storage."""
        return run_cli(self.env, *args, cwd=self.workdir)

    def cli_with(self, extra_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        """The CLI against this server's storage, with some settings of its own."""
        return run_cli(self.env | extra_env, *args, cwd=self.workdir)

    def outbox(self, to: str, last: int = 50) -> list[dict[str, Any]]:
        return outbox(self.env, to, last)

    def latest_code(self, to: str) -> str:
        entries = self.outbox(to, last=1)
        assert entries, f"no SMS to {to}"
        return code_in(str(entries[-1]["body"]))

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

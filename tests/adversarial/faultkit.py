"""Real faults for the fault, crash and soak tests: a lock held by another connection, a provider that
fails or hangs, a closed port, and a live `twostep serve` process that can be killed."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from twostep.domain.errors import SmsDeliveryError

PASSWORD = "correct horse battery staple"
SERVER_START_SECONDS = 60


# --- storage faults ---
@contextmanager
def exclusive_lock(db_path: Path) -> Iterator[None]:
    """Another process-like connection holds the write lock (`BEGIN EXCLUSIVE`) until the block ends."""
    holder = sqlite3.connect(db_path, isolation_level=None, timeout=5)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def read_only_db(db_path: Path) -> sqlite3.Connection:
    """A read-only look at the database, as an operator would take one."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    return conn


def count_rows(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> int:
    with closing(read_only_db(db_path)) as conn:
        return int(conn.execute(sql, params).fetchone()[0])


def latest_code(db_path: Path, phone: str) -> str:
    """The code in the newest SMS to `phone`, read from the console outbox."""
    with closing(read_only_db(db_path)) as conn:
        row = conn.execute(
            "SELECT body FROM outbox WHERE to_number = ? ORDER BY seq DESC LIMIT 1", (phone,)
        ).fetchone()
    assert row is not None, "no SMS in the outbox"
    return str(row["body"]).split(" ", 1)[0]


# --- SMS faults ---
class BrokenSender:
    """A provider that is down: every send fails the way real adapters report it."""

    name = "broken"

    def __init__(self, reason: str = "provider_error") -> None:
        self.reason = reason
        self.attempts = 0

    def send(self, to: str, body: str) -> str:
        self.attempts += 1
        raise SmsDeliveryError(self.reason, provider=self.name)


class FaultyProvider:
    """A local HTTP server standing in for an SMS provider: answers 500, or hangs for `hang_seconds`."""

    def __init__(self, mode: str, hang_seconds: float = 3.0) -> None:
        self.mode = mode
        self.requests = 0
        released = threading.Event()
        self._released = released
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                provider.requests += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if provider.mode == "hang":
                    released.wait(hang_seconds)
                body = b'{"code": 20500, "message": "internal error", "status": 500}'
                self.send_response(500)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FaultyProvider:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- a live server ---
def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment for `twostep serve`: files in tmp_path, limits out of the way of a load test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWOSTEP_", "AWS_"))}
    env.update(
        {
            # The code under test: the caller's PYTHONPATH (a worktree), else this checkout's src.
            "PYTHONPATH": os.environ.get("PYTHONPATH") or str(Path(__file__).resolve().parents[2] / "src"),
            "TWOSTEP_STAGE": "dev",
            "TWOSTEP_STORAGE": "sqlite",
            "TWOSTEP_SQLITE_PATH": str(tmp_path / "twostep.db"),
            "TWOSTEP_JWT_KEY_FILE": str(tmp_path / "keys.json"),
            "TWOSTEP_SMS_PROVIDERS": "console",
            "TWOSTEP_RESEND_COOLDOWN_SECONDS": "0",
            "TWOSTEP_IP_REGISTER_PER_HOUR": "1000000",
            "TWOSTEP_IP_LOGIN_PER_MINUTE": "1000000",
            "TWOSTEP_SMS_PER_NUMBER_10MIN": "1000",
            "TWOSTEP_SMS_PER_NUMBER_DAY": "10000",
            "TWOSTEP_SMS_HOURLY_BUDGET": "1000000",
            "TWOSTEP_LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra)
    return env


def run_cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twostep", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class LiveServer:
    """`twostep serve` in a child process on a free loopback port."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.port = closed_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> LiveServer:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "twostep", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + SERVER_START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"twostep serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("twostep serve did not become healthy")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flush, exactly what a crash does."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

"""Real faults for the fault, crash and soak tests: a lock held by another connection, a provider that
fails or hangs, a closed port, and a live `twostep serve` process that can be killed."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests import live
from twostep.domain.errors import SmsDeliveryError

PASSWORD = "correct horse battery staple"


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


# --- a live server ---
LOAD_TEST_LIMITS = {
    "TWOSTEP_IP_REGISTER_PER_HOUR": "1000000",
    "TWOSTEP_IP_LOGIN_PER_MINUTE": "1000000",
    "TWOSTEP_IP_SMS_PER_HOUR": "10000000",  # a 25-minute soak sends ~100,000 from one address
    "TWOSTEP_SMS_PER_NUMBER_10MIN": "1000",
    "TWOSTEP_SMS_PER_NUMBER_DAY": "10000",
    "TWOSTEP_RESET_REQUESTS_PER_DAY": "999",  # below the number's caps above, as the settings require
    "TWOSTEP_RESET_REQUESTS_PER_CLIENT_DAY": "999",
    "TWOSTEP_SMS_HOURLY_BUDGET": "1000000",
    "TWOSTEP_SMS_BUDGET_HOURLY_USD": "1000000",
    "TWOSTEP_SMS_BUDGET_DAILY_USD": "1000000",
}


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment for `twostep serve`: files in tmp_path, limits out of the way of a load test."""
    env = {k: v for k, v in live.server_env(tmp_path).items() if not k.startswith("AWS_")}
    return env | LOAD_TEST_LIMITS | extra


run_cli = live.run_cli


class LiveServer(live.ServerProcess):
    """`twostep serve` over an environment built by `server_env`, logging to `log_path`."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        super().__init__(log_path.parent, env=env)
        self.log_path = log_path

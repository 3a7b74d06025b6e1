"""A real `twostep serve` process on a free loopback port, with its own SQLite file and key file."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

PASSWORD = "correct horse battery staple"
STARTUP_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LiveServer:
    url: str
    env: dict[str, str]
    workdir: Path

    def cli(self, *args: str) -> str:
        """Run `python -m twostep ...` against this server's storage; returns stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "twostep", *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout

    def latest_code(self, phone: str) -> str:
        entries = json.loads(self.cli("sms", "outbox", "--json", "--to", phone, "--last", "1"))
        assert entries, f"no SMS to {phone}"
        return str(entries[-1]["body"]).split(" ", 1)[0]

    def start_login(self, email: str) -> str:
        """Password step only; returns the otpId of the challenge it opened."""
        with httpx.Client(base_url=self.url, timeout=30) as http:
            started = http.post("/login", json={"email": email, "password": PASSWORD})
        assert started.status_code == 200, started.text
        return str(started.json()["otpId"])

    def sign_in(self, email: str, phone: str) -> dict[str, str]:
        """Register (if needed), log in and verify the texted code; returns the token pair."""
        with httpx.Client(base_url=self.url, timeout=30) as http:
            http.post(
                "/register",
                json={
                    "firstName": "Fuzz",
                    "lastName": "Er",
                    "email": email,
                    "password": PASSWORD,
                    "phoneNumber": phone,
                },
            )
            started = http.post("/login", json={"email": email, "password": PASSWORD})
            assert started.status_code == 200, started.text
            otp_id = started.json()["otpId"]
            verified = http.post(f"/otp/{otp_id}/verify", json={"otp": self.latest_code(phone)})
            assert verified.status_code == 200, verified.text
            return dict(verified.json())


def server_env(workdir: Path, port: int, **extra: str) -> dict[str, str]:
    """The process environment: nothing from the developer's TWOSTEP_* variables, files in `workdir`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("TWOSTEP_")}
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH", "")) if p)
    env.update(
        TWOSTEP_STAGE="dev",
        TWOSTEP_STORAGE="sqlite",
        TWOSTEP_SQLITE_PATH=str(workdir / "twostep.db"),
        TWOSTEP_JWT_KEY_FILE=str(workdir / "keys.json"),
        TWOSTEP_ISSUER=f"http://127.0.0.1:{port}",
        TWOSTEP_SMS_PROVIDERS="console",
        TWOSTEP_LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


@contextmanager
def live_server(workdir: Path, app: str = "api", **extra_env: str) -> Iterator[LiveServer]:
    """Start `twostep serve --app <app>`, wait until it answers, and stop it (by its own pid) afterwards."""
    port = free_port()
    env = server_env(workdir, port, **extra_env)
    log = (workdir / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "twostep", "serve", "--host", "127.0.0.1", "--port", str(port), "--app", app],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(url, process, workdir)
        yield LiveServer(url=url, env=env, workdir=workdir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def _wait_until_healthy(url: str, process: subprocess.Popen[bytes], workdir: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"twostep serve exited: {(workdir / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(
        f"twostep serve did not become healthy: {(workdir / 'server.log').read_text()[-2000:]}"
    )

"""`twostep serve --workers N`: N uvicorn worker processes, each building the app from the environment."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.live import ServerProcess, run_cli, server_env
from twostep.worker_supervisor import KILL_MARGIN_SECONDS

PASSWORD = "correct horse battery staple"


def _sign_in(server: ServerProcess, http: httpx.Client, email: str, phone: str) -> dict[str, str]:
    registered = http.post(
        "/register",
        json={"firstName": "W", "lastName": "K", "email": email, "password": PASSWORD, "phoneNumber": phone},
    )
    assert registered.status_code == 201, registered.text
    started = http.post("/login", json={"email": email, "password": PASSWORD})
    assert started.status_code == 200, started.text
    verified = http.post(f"/otp/{started.json()['otpId']}/verify", json={"otp": server.latest_code(phone)})
    assert verified.status_code == 200, verified.text
    return dict(verified.json())


def _log_lines(server: ServerProcess) -> list[dict[str, object]]:
    lines = server.log_path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def _maps_the_token_library(pid: int) -> bool:
    return "/cryptography/" in Path(f"/proc/{pid}/maps").read_text()


def test_two_workers_serve_one_database_and_stop_together(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, serve_args=("--workers", "2"), TWOSTEP_LOG_LEVEL="INFO")
    with server:
        assert server.process is not None
        supervisor = server.process.pid
        workers = server.worker_pids()
        assert len(workers) == 2
        # The app was built once before the workers, in a child that has exited: the supervisor, which
        # lives as long as they do, never loaded the app's libraries (the token signer's among them).
        assert all(_maps_the_token_library(pid) for pid in workers)
        assert not _maps_the_token_library(supervisor)
        for n in range(6):  # new connections: the kernel spreads them over both workers' accept()
            with httpx.Client(base_url=server.base_url, timeout=30) as http:
                tokens = _sign_in(server, http, f"w{n}@example.com", f"+1415555{2670 + n:04d}")
                hello = http.get("/hello", headers={"Authorization": f"Bearer {tokens['accessToken']}"})
                assert hello.status_code == 200, hello.text
    assert server.process is not None and server.process.returncode == 0
    lines = _log_lines(server)
    assert {line["pid"] for line in lines if line["message"] == "serving"} == workers
    # named once, by the build before the workers (which do not repeat it)
    assert sum(str(line["message"]).startswith("password checks: ") for line in lines) == 1
    # each worker drained and closed its own storage on SIGTERM
    assert {line["pid"] for line in lines if line["message"] == "stopped; storage closed"} == workers


def test_a_configuration_mistake_stops_before_any_worker_starts(tmp_path: Path) -> None:
    env = server_env(tmp_path, TWOSTEP_STAGE="staging")
    result = run_cli(env, "serve", "--app", "verification", "--workers", "2", "--port", "1", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "TWOSTEP_VERIFY_API_KEYS" in lines[0]


def _wait_for_new_worker(server: ServerProcess, old: set[int]) -> None:
    deadline = time.monotonic() + 30
    while not server.worker_pids() - old:
        assert time.monotonic() < deadline, f"no new worker after SIGHUP: {server.log_tail()}"
        time.sleep(0.1)


def test_a_hung_worker_during_a_restart_does_not_keep_the_server_from_stopping(tmp_path: Path) -> None:
    """Before, a SIGHUP restart joined each old worker with no deadline: a hung one held the supervisor
    for good, and SIGTERM was never handled. Now SIGTERM is still handled, and the hung worker killed
    after the graceful shutdown time plus the kill margin."""
    grace = 1
    server = ServerProcess(
        tmp_path, serve_args=("--workers", "2"), TWOSTEP_SHUTDOWN_TIMEOUT_SECONDS=str(grace)
    )
    with server:
        assert server.process is not None
        old = server.worker_pids()
        server.process.send_signal(signal.SIGHUP)
        for pid in old:  # hung (before the supervisor asks the first old one to stop, a second or so on)
            os.kill(pid, signal.SIGSTOP)
        try:
            _wait_for_new_worker(server, old)
            time.sleep(1)  # the supervisor is waiting for an old worker to exit
            server.process.send_signal(signal.SIGTERM)
            try:
                server.process.wait(timeout=grace + KILL_MARGIN_SECONDS + 5)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"the supervisor ignored SIGTERM: {server.log_tail()}") from None
            assert not any(Path(f"/proc/{pid}").exists() for pid in old), "a hung worker outlived the server"
            assert "a worker did not stop in time; killing it" in server.log_tail()
        finally:
            left = old | (server.worker_pids() if server.process.poll() is None else set())
            for pid in left:  # a failed test leaves no stopped process behind
                if Path(f"/proc/{pid}").exists():
                    os.kill(pid, signal.SIGKILL)
            server.kill()


def test_sighup_to_one_process_keeps_it_serving(tmp_path: Path) -> None:
    """Before, `twostep serve` without `--workers` took no notice of SIGHUP, so its default action killed
    it at once: requests in flight cut, no drain, no WAL checkpoint, no log line; and systemd counts a
    SIGHUP death as clean, so the self-host unit's `systemctl reload` (ExecReload sends SIGHUP) left the
    service down. One process keeps serving and says that a reload needs `--workers`."""
    with ServerProcess(tmp_path) as server:
        assert server.process is not None
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            assert http.get("/healthz/live").status_code == 200  # a kept-alive connection
            server.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while "SIGHUP" not in server.log_tail():
                assert server.process.poll() is None, f"SIGHUP ended the server: {server.log_tail()}"
                assert time.monotonic() < deadline, f"nothing logged for SIGHUP: {server.log_tail()}"
                time.sleep(0.1)
            assert http.get("/healthz/live").status_code == 200
        [line] = [line for line in _log_lines(server) if "SIGHUP" in str(line["message"])]
        assert line["level"] == "WARNING" and "--workers" in str(line["message"])
        server.process.send_signal(signal.SIGTERM)  # which still stops it (uvicorn then raises it again)
        assert server.process.wait(timeout=30) == -signal.SIGTERM


def _opened(pid: int, path: Path) -> bool:
    try:
        return any(Path(f"/proc/{pid}/fd/{fd}").resolve() == path for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:  # the process or a descriptor went away meanwhile
        return False


def _building_pid(server: ServerProcess, database: Path) -> int | None:
    """The process that has the database open while the app is built: the server itself, or the child
    that `--workers` builds it in first."""
    if server.process is None:  # not spawned yet
        return None
    candidates = [server.process.pid]
    for task in Path(f"/proc/{server.process.pid}/task").iterdir():
        candidates += [int(child) for child in (task / "children").read_text().split()]
    return next((pid for pid in candidates if _opened(pid, database)), None)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sighup_while_the_app_is_built_does_not_stop_the_start(tmp_path: Path, workers: str) -> None:
    """Before, SIGHUP's handlers were installed only once serving began: `systemctl reload` in the
    second or so the app takes to build (the storage opened, the keys read) killed the server there.
    Here the build waits on a database another connection holds locked, so the window stays open."""
    database = tmp_path / "twostep.db"
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # the server's first write waits for it (the busy timeout below)
    server = ServerProcess(
        tmp_path, serve_args=("--workers", workers), TWOSTEP_SQLITE_BUSY_TIMEOUT_MS="60000"
    )
    try:
        started = threading.Thread(target=server.start)
        started.start()
        deadline = time.monotonic() + 30
        while (pid := _building_pid(server, database.resolve())) is None:
            assert time.monotonic() < deadline, f"the server never opened its database: {server.log_tail()}"
            time.sleep(0.05)
        assert server.process is not None
        server.process.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert server.process.poll() is None, f"SIGHUP ended the server while it started (pid {pid})"
        holder.execute("COMMIT")
        started.join(timeout=60)
        assert httpx.get(f"{server.base_url}/healthz/live").status_code == 200
    finally:
        holder.close()
        server.stop()

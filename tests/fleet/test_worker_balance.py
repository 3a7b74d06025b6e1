"""`twostep serve --workers 2` on Linux: every worker accepts on its own SO_REUSEPORT socket, so clients
that connect together land on both; a killed worker is replaced on its socket; the port is never shared
with another server or another user."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.live import ServerProcess, run_cli, server_env

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreading is Linux's"
)

CLIENTS = 32  # all on one worker by chance: 2 in 2**32 with an even hash
REQUEST = b"GET /healthz/live HTTP/1.1\r\nHost: test\r\n\r\n"


@contextmanager
def kept_alive_clients(port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections opened all at once (as the bench's clients do), each answered once, kept open."""
    with ExitStack() as stack:
        clients = [
            stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=30))
            for _ in range(count)
        ]
        for client in clients:
            client.sendall(REQUEST)
        for client in clients:
            assert client.recv(4096).startswith(b"HTTP/1.1 200"), "a connection was not served"
        yield clients


def _established_inodes(port: int) -> set[str]:
    """Socket inodes of the established TCP connections whose local port is `port` (the server's side)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
            if state == "01" and local_port == port:
                inodes.add(inode)
    return inodes


def connections_by_worker(server: ServerProcess, workers: set[int]) -> dict[int, int]:
    """How many of the server's established connections each worker process holds (read from /proc)."""
    inodes = _established_inodes(server.port)
    counts = dict.fromkeys(workers, 0)
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:  # closed meanwhile
                continue
            if target.startswith("socket:[") and target[len("socket:[") : -1] in inodes:
                counts[pid] += 1
    return counts


def workers_replaced(server: ServerProcess, gone: set[int], deadline_seconds: float = 60) -> set[int]:
    """The worker pids once the supervisor has started workers in place of all of `gone` (polled)."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        workers = server.worker_pids()
        if not workers & gone and len(workers) == 2:
            return workers
        time.sleep(0.1)
    raise AssertionError(f"workers {gone} not replaced: {server.log_tail()}")


def test_clients_connecting_together_land_on_both_workers_also_after_one_is_killed(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, serve_args=("--workers", "2"))
    with server:
        workers = server.worker_pids()
        assert len(workers) == 2
        with kept_alive_clients(server.port, CLIENTS):
            counts = connections_by_worker(server, workers)
        assert sum(counts.values()) == CLIENTS, counts
        assert all(counts.values()), f"one worker took every connection: {counts}"

        killed = min(workers)
        os.kill(killed, signal.SIGKILL)
        workers = workers_replaced(server, {killed})
        with kept_alive_clients(
            server.port, CLIENTS
        ):  # the new worker serves (or held) the dead one's socket
            counts = connections_by_worker(server, workers)
        assert sum(counts.values()) == CLIENTS and all(counts.values()), counts

        assert server.process is not None
        server.process.send_signal(signal.SIGHUP)  # a rolling restart: every worker replaced, still spread
        workers = workers_replaced(server, workers)
        with kept_alive_clients(server.port, CLIENTS):
            counts = connections_by_worker(server, workers)
        assert sum(counts.values()) == CLIENTS and all(counts.values()), counts
    assert server.process is not None and server.process.returncode == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "a worker outlived SIGTERM"
    with pytest.raises(ConnectionRefusedError):  # nothing listens once the server stopped
        socket.create_connection(("127.0.0.1", server.port), timeout=5).close()


def _serve_on(port: int, workdir: Path) -> subprocess.CompletedProcess[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    env = server_env(workdir, port)
    return run_cli(env, "serve", "--port", str(port), "--workers", "2", cwd=workdir, timeout=60)


def test_a_busy_port_is_refused_before_any_worker_starts(tmp_path: Path) -> None:
    with socket.socket() as other:  # a plain listener, as any other program binds
        other.bind(("127.0.0.1", 0))
        other.listen()
        result = _serve_on(other.getsockname()[1], tmp_path / "plain")
    assert result.returncode == 4, result.stderr
    assert "cannot listen on 127.0.0.1" in result.stderr and "stop the other server" in result.stderr

    with ServerProcess(tmp_path / "first", serve_args=("--workers", "2")) as first:
        # another twostep on the same user's SO_REUSEPORT port: refused too, not sharing the connections
        result = _serve_on(first.port, tmp_path / "second")
        assert result.returncode == 4, result.stderr
        assert "cannot listen on 127.0.0.1" in result.stderr


JOIN_AS_OTHER_USER = """
import socket, sys
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
try:
    sock.bind(("127.0.0.1", int(sys.argv[1])))
except OSError as exc:
    print(exc.errno)
else:
    print("joined")
"""


# An interpreter another user may run (a virtualenv under /root is not one).
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a process as another user")
def test_another_user_cannot_join_the_workers_sockets(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, serve_args=("--workers", "2")) as server:
        result = subprocess.run(
            [SYSTEM_PYTHON, "-I", "-c", JOIN_AS_OTHER_USER, str(server.port)],
            user="nobody",
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.stdout.strip() == str(98), result  # EADDRINUSE: Linux keeps a SO_REUSEPORT group to one uid

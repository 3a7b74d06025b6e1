"""Processes the benchmarks start: pinned to a core where the machine has two, always stopped."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Cores:
    """Which core the measured process gets and which the load generator gets (None: not pinned)."""

    server: int | None
    load: int | None

    @property
    def pinned(self) -> bool:
        return self.server is not None

    def describe(self) -> str:
        if not self.pinned:
            return "not pinned (taskset missing or fewer than 2 cores): server and load share the CPUs"
        return f"server on core {self.server}, load generator on core {self.load} (taskset)"


def detect_cores() -> Cores:
    usable = sorted(os.sched_getaffinity(0))
    if shutil.which("taskset") is None or len(usable) < 2:
        return Cores(None, None)
    return Cores(usable[0], usable[1])


def pin(core: int | None, argv: list[str]) -> list[str]:
    return argv if core is None else ["taskset", "-c", str(core), *argv]


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The parent's environment with the repository's `src` and the bench package importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    paths = [str(REPO / "src"), str(REPO)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(extra or {})
    return env


def run_json(argv: list[str], core: int | None, env: dict[str, str], timeout: float) -> Any:
    """Run a pinned Python child that prints one JSON document; raise with its stderr if it fails."""
    done = subprocess.run(
        pin(core, [sys.executable, *argv]),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise RuntimeError(f"{' '.join(argv[:3])} failed: {lines[-1] if lines else done.returncode}")
    return json.loads(done.stdout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.05)
    raise RuntimeError(f"server not ready after {timeout:.0f} s")


@contextmanager
def served(
    argv: list[str], core: int | None, env: dict[str, str], ready_url: str, log_path: Path
) -> Iterator[int]:
    """Start a server, wait for `ready_url`, yield its pid; stop it (and only it) afterwards."""
    log = log_path.open("wb")
    proc = subprocess.Popen(pin(core, argv), env=env, cwd=REPO, stdout=log, stderr=log)
    try:
        try:
            _wait_ready(proc, ready_url, timeout=60)
        except RuntimeError as exc:
            lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
            raise RuntimeError(f"{exc}: {lines[-1] if lines else 'no output'}") from exc
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def peak_rss_mib(pid: int) -> float | None:
    """VmHWM (the resident-set high-water mark) of a live process, in MiB."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants alive now (Linux /proc)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                queue += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return found

"""The load generator: N concurrent keep-alive clients against one server, in its own (pinned) process.

    python -m bench.loadgen MODE --port P [--clients N --seconds S --warmup W --users U --db PATH]

MODE is `register` (prints the users as JSON), `login`, `signin` (login, code from the outbox table
of `--db` or `--database-url`, verify) or `hello` (GET /hello with `--token`). Measuring modes print `{"completed", "seconds",
"server_cpu_seconds", "busiest_thread_seconds", "errors"}`: only requests finished inside the measuring
window (after the warm-up) count, and the CPU time is the server's (`--server-pid`, or every process
under a `--server-tree` root but the load generator's own database session) over that same window.
`busiest_thread_seconds` sums each threaded process's busiest thread over the window: under a sign-in
load, each twostep process's hashing thread (PostgreSQL's processes have one thread each and are left
out; see figures_http.split_note).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.context import PASSWORD
from bench.httpclient import Connection
from bench.procs import process_tree

HOST = "127.0.0.1"


def bench_user(index: int) -> dict[str, str]:
    return {"email": f"bench{index}@example.com", "phone": f"+90555{index:07d}"}


@dataclass
class Window:
    """Counts completions between `start` and `end` (monotonic seconds)."""

    start: float
    end: float
    completed: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def done(self, ok: bool, label: str = "") -> None:
        now = time.monotonic()
        if self.start <= now <= self.end:
            if ok:
                self.completed += 1
            else:
                self.errors[label] += 1


class Outbox:
    """Reads the newest code texted to a number straight from the server's outbox table (SQLite file,
    or PostgreSQL when `database_url` is given)."""

    def __init__(self, path: str, database_url: str = "") -> None:
        self._conn: Any
        self.backend_pids: set[int] = set()  # the PostgreSQL backend serving these reads: load, not server
        if database_url:
            import psycopg

            self._conn = psycopg.connect(database_url, autocommit=True)
            self.backend_pids = {self._conn.info.backend_pid}
            self._sql = "SELECT body FROM outbox WHERE to_number=%s ORDER BY seq DESC LIMIT 1"
        else:
            self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
            self._sql = "SELECT body FROM outbox WHERE to_number=? ORDER BY seq DESC LIMIT 1"

    def latest_code(self, phone: str) -> str:
        row = self._conn.execute(self._sql, (phone,)).fetchone()
        match = re.match(r"\d+", row[0]) if row else None
        if match is None:
            raise RuntimeError("no code in the outbox")
        return match.group(0)


async def login(conn: Connection, user: dict[str, str]) -> tuple[bool, str, Any]:
    response = await conn.request("POST", "/login", {"email": user["email"], "password": PASSWORD})
    return response.status == 200, f"login {response.status}", response


async def sign_in(conn: Connection, user: dict[str, str], outbox: Outbox) -> tuple[bool, str, Any]:
    ok, label, response = await login(conn, user)
    if not ok:
        return ok, label, response
    otp_id = response.json()["otpId"]
    code = outbox.latest_code(user["phone"])
    verified = await conn.request("POST", f"/otp/{otp_id}/verify", {"otp": code})
    return verified.status == 200, f"verify {verified.status}", verified


async def register(port: int, users: int, clients: int) -> list[dict[str, str]]:
    """Registers users `0..users-1` (an existing account, 409, is fine: the same password)."""
    made = [bench_user(i) for i in range(users)]

    async def worker(slot: int) -> None:
        conn = Connection(HOST, port)
        for user in made[slot::clients]:
            body = {
                "firstName": "Bench",
                "lastName": "User",
                "email": user["email"],
                "password": PASSWORD,
                "phoneNumber": user["phone"],
            }
            response = await conn.request("POST", "/register", body)
            if response.status not in (201, 409):
                raise RuntimeError(f"register answered {response.status}: {response.body[:200]!r}")
        await conn.close()

    await asyncio.gather(*(worker(slot) for slot in range(clients)))
    return made


def cpu_seconds(pid: int, task: str = "") -> float:
    """User + system CPU time so far of a process (all its threads), or of one of its threads
    (`task`: its thread id), from /proc."""
    with open(f"/proc/{pid}/task/{task}/stat" if task else f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_seconds(pid: int) -> dict[str, float]:
    """CPU time so far of each of a process's threads, by thread id (threads ending meanwhile left out)."""
    found = {}
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            found[task] = cpu_seconds(pid, task)
        except OSError:
            continue
    return found


def threads_of(pids: list[int]) -> dict[int, dict[str, float]]:
    """`thread_seconds` of each of `pids` still running."""
    found = {}
    for pid in pids:
        try:
            found[pid] = thread_seconds(pid)
        except OSError:  # ended since the walk
            continue
    return found


@dataclass(frozen=True)
class ServerProcesses:
    pids: list[int]  # sampled as they are; one that ends fails the run
    trees: list[int]  # roots walked at each sample: processes started in the window count from zero
    exclude: frozenset[int] = frozenset()  # the load generator's own PostgreSQL backend

    def cpu(self) -> dict[int, float]:
        found = {pid: cpu_seconds(pid) for pid in self.pids}
        for pid in (pid for root in self.trees for pid in process_tree(root)):
            if pid not in found and pid not in self.exclude:
                try:
                    found[pid] = cpu_seconds(pid)
                except OSError:  # ended since the walk
                    continue
        return found


@dataclass(frozen=True)
class ServerCpu:
    """The server's CPU seconds inside the measuring window: all of it, and its busiest threads'."""

    total: float
    busiest_threads: float  # each threaded process's busiest thread, summed over the processes


def busiest_threads(before: dict[int, dict[str, float]], after: dict[int, dict[str, float]]) -> float:
    """Each threaded process's busiest thread between two samples (threads started meanwhile count
    from zero), summed; a process with one thread (PostgreSQL's) has no thread doing one kind of work."""
    return sum(
        max(seconds - before.get(pid, {}).get(task, 0.0) for task, seconds in tasks.items())
        for pid, tasks in after.items()
        if len(tasks) > 1
    )


async def server_cpu(server: ServerProcesses, window: Window) -> ServerCpu:
    """The server's CPU seconds spent inside the measuring window (summed over its processes)."""
    await asyncio.sleep(max(0.0, window.start - time.monotonic()))
    before = server.cpu()
    threads_before = threads_of(list(before))
    await asyncio.sleep(max(0.0, window.end - time.monotonic()))
    after = server.cpu()
    total = sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())
    return ServerCpu(total, busiest_threads(threads_before, threads_of(list(after))))


async def measure(
    port: int,
    clients: int,
    seconds: float,
    warmup: float,
    step: Callable[[Connection, int], Awaitable[Any]],
    server: ServerProcesses,
) -> dict[str, Any]:
    """Runs `step(conn, iteration)` in a loop on each client for warm-up + `seconds`."""
    start = time.monotonic() + warmup
    window = Window(start, start + seconds)

    async def worker(slot: int) -> None:
        conn = Connection(HOST, port)
        iteration = 0
        while time.monotonic() < window.end:
            try:
                ok, label, _ = await step(conn, slot + iteration * clients)
            except (OSError, asyncio.IncompleteReadError, ValueError, KeyError, RuntimeError) as exc:
                ok, label = False, type(exc).__name__
                await conn.close()
            window.done(ok, label)
            iteration += 1
        await conn.close()

    cpu_task = asyncio.create_task(server_cpu(server, window))
    await asyncio.gather(*(worker(slot) for slot in range(clients)))
    cpu = await cpu_task
    return {
        "completed": window.completed,
        "seconds": seconds,
        "server_cpu_seconds": cpu.total,
        "busiest_thread_seconds": cpu.busiest_threads,
        "errors": dict(window.errors),
    }


Step = Callable[[Connection, int], Awaitable[Any]]


def _step_for(args: argparse.Namespace) -> tuple[Step, frozenset[int]]:
    """The mode's step, and the load generator's own processes among the server's (if any)."""
    users = [bench_user(i) for i in range(args.users)]
    if args.mode == "login":
        return lambda conn, i: login(conn, users[i % len(users)]), frozenset()
    if args.mode == "signin":
        outbox = Outbox(args.db, args.database_url)
        return lambda conn, i: sign_in(conn, users[i % len(users)], outbox), frozenset(outbox.backend_pids)
    headers = {"Authorization": f"Bearer {args.token}"}

    async def hello(conn: Connection, _: int) -> tuple[bool, str, Any]:
        response = await conn.request("GET", "/hello", headers=headers)
        return response.status == 200, f"hello {response.status}", response

    return hello, frozenset()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    if args.mode == "register":
        return {"users": await register(args.port, args.users, args.clients)}
    step, own = _step_for(args)
    server = ServerProcesses(args.server_pid, args.server_tree, own)
    return await measure(args.port, args.clients, args.seconds, args.warmup, step, server)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.loadgen")
    parser.add_argument("mode", choices=["register", "login", "signin", "hello"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--db", default="")
    parser.add_argument("--database-url", default="", help="read codes from PostgreSQL instead of --db")
    parser.add_argument("--token", default="")
    parser.add_argument(
        "--server-pid", type=int, action="append", default=[], help="whose CPU time to sample (repeatable)"
    )
    parser.add_argument(
        "--server-tree",
        type=int,
        action="append",
        default=[],
        help="sample every process under this one, re-walked at each sample (repeatable)",
    )
    args = parser.parse_args(argv)
    json.dump(asyncio.run(main_async(args)), sys.stdout)


if __name__ == "__main__":
    main()

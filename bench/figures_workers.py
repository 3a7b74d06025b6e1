"""2FA sign-ins per second with 1 and 2 worker processes, on SQLite and on PostgreSQL, each against the
bare Argon2id verify rate on the same cores, measured in the same run (the faster of argon2-cffi's and
twostep's own verify: see figures_http.HashBaseline).

One worker runs pinned to the server core (the load generator has the other), against one Argon2id
process on that core. Two workers get every core, against one Argon2id process per core; with two
cores they share them with the load generator (and PostgreSQL's own processes).

The score compares work per CPU-second, like the HTTP figures: sign-ins per CPU-second of every
twostep process (supervisor and workers) plus, on PostgreSQL, every PostgreSQL server process, against
Argon2id verifies per CPU-second. On a shared machine this stays fair where wall-clock rates mostly
measure how the scheduler split the cores; the wall-clock ratio is in the note. Figure and baseline
alternate in rounds, so drift in machine speed lands on both sides.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

from bench.context import Run
from bench.figures_http import Rates, hash_baseline, load, pooled, refusals, split_note
from bench.postgres import postgres_database
from bench.procs import child_env, free_port, run_json, served
from bench.report import Row, not_measured

CONFIGS = (("sqlite", 1), ("sqlite", 2), ("postgres", 1), ("postgres", 2))


def figure(backend: str, workers: int) -> str:
    name = "SQLite" if backend == "sqlite" else "PostgreSQL"
    return f"2FA sign-ins/s, {workers} worker{'s' if workers > 1 else ''}, {name}"


FIGURES = [figure(backend, workers) for backend, workers in CONFIGS]
TARGET = "report"
TWO_WORKERS_LIMIT = 0.9  # issue 19: with --workers 2 on 2 cores, >= 0.9 of the bare rate on 2 cores


def target(workers: int) -> str:
    return f"≥ {TWO_WORKERS_LIMIT}" if workers == 2 else TARGET


def argon2_rate(run: Run, processes: int, core: int | None, kind: str = "argon2") -> dict[str, float]:
    """Bare Argon2id verifies per second, `processes` at once (pinned to `core` when given), summed;
    `kind` as in bench/workers.py (`argon2`: argon2-cffi's, `argon2-twostep`: twostep's own)."""
    argv = ["-m", "bench.workers", kind, "--seconds", str(run.profile.hash_seconds)]
    with ThreadPoolExecutor(processes) as pool:
        results = list(pool.map(lambda _: run_json(argv, core, child_env(), timeout=120), range(processes)))
    return {
        "ops": sum(r["ops"] for r in results),
        "seconds": max(r["seconds"] for r in results),
        "cpu_seconds": sum(r["cpu_seconds"] for r in results),
    }


def _server_roots(run: Run, backend: str, pid: int) -> list[int]:
    """The roots of every process doing the server's work: twostep's supervisor, and PostgreSQL's
    postmaster when it is the storage (its backends come and go with the pools' connections)."""
    roots = [pid]
    if backend == "postgres" and run.postgres is not None:
        roots.append(int((run.postgres.data / "postmaster.pid").read_text().split()[0]))
    return roots


def _env(run: Run, backend: str, workers: int) -> tuple[dict[str, str], dict[str, str]]:
    """The server's environment and the load generator's outbox option."""
    if backend == "postgres":
        url = postgres_database(run)
        return run.twostep_env(TWOSTEP_STORAGE="postgres", TWOSTEP_DATABASE_URL=url), {"database-url": url}
    db = str(run.workdir / f"workers-{workers}.db")
    return run.twostep_env(TWOSTEP_SQLITE_PATH=db), {"db": db}


Hashes = list[dict[str, float]]


def measure(run: Run, backend: str, workers: int) -> tuple[dict[str, Any], Hashes, Hashes]:
    core = run.cores.server if workers == 1 else None
    env, outbox = _env(run, backend, workers)
    port = free_port()
    argv = [sys.executable, "-m", "twostep", "serve", "--port", str(port), "--workers", str(workers)]
    log = run.workdir / f"serve-{backend}-{workers}.log"
    with ExitStack() as stack:
        pid = stack.enter_context(served(argv, core, env, f"http://127.0.0.1:{port}/healthz", log))
        load(run, "register", port, pid)
        # Walked again at the end of each measuring window: a pool that grows under the sign-in load
        # opens backends after this point, and their CPU is the server's too.
        roots = _server_roots(run, backend, pid)
        signins, hashes, own_hashes = [], [], []
        rounds = 1 if run.profile.name == "smoke" else 2
        for _ in range(rounds):
            hashes.append(argon2_rate(run, workers, core))
            own_hashes.append(argon2_rate(run, workers, core, "argon2-twostep"))
            signins.append(
                load(run, "signin", port, roots, run.profile.load_seconds / rounds, trees=True, **outbox)
            )
    return pooled(signins), hashes, own_hashes


def row(run: Run, backend: str, workers: int) -> Row:
    signins, hashes, own_hashes = measure(run, backend, workers)
    if refused := refusals(signins):
        return not_measured(figure(backend, workers), target(workers), refused)
    rate = Rates.of_load(signins)
    pinned = workers == 1 and run.cores.pinned
    cores = f"core {run.cores.server}" if pinned else f"{len(os.sched_getaffinity(0))} cores"
    processes = f"{workers} process{'es' if workers > 1 else ''}"
    hashed = hash_baseline(hashes, own_hashes, f"{processes} on {cores}")
    note = f"wall-clock ratio {rate.wall / hashed.rates.wall:.2f}; {run.profile.clients} clients; server CPU "
    note += "twostep + PostgreSQL processes" if backend == "postgres" else "twostep processes"
    note += f"; against {hashed.other_name} ({hashed.other.cpu:.1f}/CPU-s): {rate.cpu / hashed.other.cpu:.3f}"
    note += f"; {split_note(signins, hashed.rates)}"
    return Row(
        figure(backend, workers),
        f"{rate.wall:,.1f}/s, {rate.cpu:,.1f}/CPU-s",
        hashed.text,
        rate.cpu / hashed.rates.cpu,
        target(workers),
        True if workers == 2 else None,
        TWO_WORKERS_LIMIT if workers == 2 else None,
        note,
    )

"""HTTP figures: the login step, the whole 2FA sign-in and `/hello`, plus the server's peak RSS.

The server gets one core and the load generator the other; the hash baseline runs on the server's
core (one process per core the server may use). Figures and baselines alternate in rounds.

Scores compare work per CPU-second: completions per second of the server's own CPU time against
verifies per CPU-second of the bare baseline. On an idle machine the server keeps its core busy and
this equals the wall-clock ratio (also shown); on a shared one it stays fair, where wall-clock rates
mostly measure how the scheduler split the core (a server with 40 threads outbids a one-thread
baseline). The server's busy share is shown so idle capacity cannot hide.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from bench.context import AUDIENCE, ISSUER, Run
from bench.procs import child_env, free_port, peak_rss_mib, run_json, served
from bench.report import Row, not_measured

LOGIN = "login step over HTTP (password + code + SMS to console)"
SIGNIN = "whole 2FA sign-in over HTTP (login + verify)"
HELLO = "/hello requests/s"
RSS = "peak RSS of twostep serve under the load above"
ROUNDS = 3  # alternating rounds per figure
# Targets of issue 19.
LOGIN_LIMIT, SIGNIN_LIMIT, HELLO_LIMIT, RSS_LIMIT_MIB = 0.92, 0.88, 0.85, 80.0


@dataclass
class HttpResults:
    login: dict[str, Any]
    signin: dict[str, Any]
    hello: dict[str, Any]
    rss_peaks: list[float | None]  # VmHWM after start-up and registration, then after each round
    hashes: list[dict[str, float]]  # bare argon2-cffi verifies, one run per round
    own_hashes: list[dict[str, float]]  # twostep's own Argon2id verify in a bare loop, one run per round
    bare_hello: dict[str, Any]


def hash_rate(run: Run, kind: str = "argon2") -> dict[str, float]:
    """Bare Argon2id verifies on the cores the server gets (one process per core), summed; `kind`
    `argon2-twostep` runs twostep's own Argon2id instead of argon2-cffi's (bench/workers.py)."""
    cores = [run.cores.server] if run.cores.pinned else [None] * len(os.sched_getaffinity(0))
    argv = ["-m", "bench.workers", kind, "--seconds", str(run.profile.hash_seconds)]
    with ThreadPoolExecutor(len(cores)) as pool:
        results = list(pool.map(lambda core: run_json(argv, core, child_env(), timeout=120), cores))
    return {
        "ops": sum(r["ops"] for r in results),
        "seconds": max(r["seconds"] for r in results),
        "cpu_seconds": sum(r["cpu_seconds"] for r in results),
    }


def load(
    run: Run,
    mode: str,
    port: int,
    pid: int | list[int],
    seconds: float | None = None,
    *,
    trees: bool = False,
    **options: str,
) -> Any:
    """One load-generator run on the load core; returns its JSON result. The server's CPU time is
    summed over `pid` (or every process in a list of them); with `trees`, over every process under
    them at the window's start or end (processes started meanwhile count from their start)."""
    profile = run.profile
    argv = ["-m", "bench.loadgen", mode, "--port", str(port), "--clients", str(profile.clients)]
    argv += ["--seconds", str(seconds or profile.load_seconds), "--warmup", str(profile.warmup_seconds)]
    argv += ["--users", str(profile.users)]
    for one in [pid] if isinstance(pid, int) else pid:
        argv += ["--server-tree" if trees else "--server-pid", str(one)]
    for name, value in options.items():
        argv += [f"--{name}", value]
    return run_json(argv, run.cores.load, child_env(), timeout=300)


def pooled(results: list[dict[str, Any]]) -> dict[str, Any]:
    errors: dict[str, int] = {}
    for result in results:
        for label, count in result["errors"].items():
            errors[label] = errors.get(label, 0) + count
    keys = ("completed", "seconds", "server_cpu_seconds", "busiest_thread_seconds")
    return {**{key: sum(r[key] for r in results) for key in keys}, "errors": errors}


def _serve_twostep(run: Run, stack: ExitStack) -> tuple[int, int]:
    port = free_port()
    argv = [sys.executable, "-m", "twostep", "serve", "--port", str(port)]
    url = f"http://127.0.0.1:{port}/healthz"
    log = run.workdir / "twostep-serve.log"
    return port, stack.enter_context(served(argv, run.cores.server, run.twostep_env(), url, log))


def _serve_bare(run: Run, stack: ExitStack) -> tuple[int, int]:
    port = free_port()
    env = child_env({"BENCH_KEY_PEM": str(run.key_pem), "BENCH_ISSUER": ISSUER, "BENCH_AUDIENCE": AUDIENCE})
    argv = [sys.executable, "-m", "uvicorn", "bench.baseline_app:app", "--port", str(port)]
    argv += ["--no-access-log", "--no-server-header", "--log-level", "warning"]
    url = f"http://127.0.0.1:{port}/healthz"
    log = run.workdir / "baseline-serve.log"
    return port, stack.enter_context(served(argv, run.cores.server, env, url, log))


def measure(run: Run) -> HttpResults:
    """Every figure and its baseline in alternating rounds (hash, login, sign-in, /hello, bare /hello),
    each round a third of the time, so drift in machine speed lands on both sides alike."""
    with ExitStack() as stack:
        port, pid = _serve_twostep(run, stack)
        bare_port, bare_pid = _serve_bare(run, stack)
        load(run, "register", port, pid)
        seconds = run.profile.load_seconds / ROUNDS
        db = str(run.workdir / "twostep.db")
        names = ("hash", "own", "login", "signin", "hello", "bare")
        got: dict[str, list[Any]] = {name: [] for name in names}
        peaks = [peak_rss_mib(pid)]
        for _ in range(ROUNDS):
            got["hash"].append(hash_rate(run))
            got["own"].append(hash_rate(run, "argon2-twostep"))
            got["login"].append(load(run, "login", port, pid, seconds))
            got["signin"].append(load(run, "signin", port, pid, seconds, db=db))
            got["hello"].append(load(run, "hello", port, pid, seconds, token=run.token))
            got["bare"].append(load(run, "hello", bare_port, bare_pid, seconds, token=run.token))
            peaks.append(peak_rss_mib(pid))
    return HttpResults(
        pooled(got["login"]),
        pooled(got["signin"]),
        pooled(got["hello"]),
        peaks,
        got["hash"],
        got["own"],
        pooled(got["bare"]),
    )


@dataclass(frozen=True)
class Rates:
    """Completions per wall second and per CPU-second of the process doing the work."""

    wall: float
    cpu: float

    @classmethod
    def of_load(cls, result: dict[str, Any]) -> Rates:
        done = float(result["completed"])
        return cls(done / float(result["seconds"]), done / max(float(result["server_cpu_seconds"]), 1e-9))

    @classmethod
    def of_worker(cls, results: list[dict[str, float]]) -> Rates:
        ops = sum(r["ops"] for r in results)
        return cls(ops / sum(r["seconds"] for r in results), ops / sum(r["cpu_seconds"] for r in results))


def refusals(result: dict[str, Any]) -> str:
    """Why a load's result measures nothing, or "": answers other than 2xx (or failed connections) are
    the server refusing the load (a limit, a bad token), so its rate is not the figure's."""
    errors = result.get("errors") or {}
    if errors:
        listed = ", ".join(f"{k} x{v}" for k, v in sorted(errors.items()))
        return f"error: requests refused ({listed}; {result['completed']} completed)"
    if not result["completed"]:
        return "error: no request completed in the measuring window"
    return ""


def _busy(result: dict[str, Any]) -> str:
    return f"server busy {float(result['server_cpu_seconds']) / float(result['seconds']):.0%} of a core"


def split_note(result: dict[str, Any], hashes: Rates) -> str:
    """Where a completion's CPU went: the hashing threads (against the bare verify) and the rest.

    In a hash figure each twostep process's busiest thread is its hashing thread (the hash is most of
    a sign-in), which does one verify per completion, the bare baseline's. What it costs beyond the
    bare verify is what the loaded server and the load generator beside it cost the hash (shared
    caches and cores); the rest is the service around the hash."""
    done = float(result["completed"])
    hashing = 1000 * float(result["busiest_thread_seconds"]) / done
    rest = 1000 * float(result["server_cpu_seconds"]) / done - hashing
    bare = 1000 / hashes.cpu
    return f"CPU per completion: hashing threads {hashing:.2f} ms (a bare verify {bare:.2f}), the rest {rest:.2f} ms"


@dataclass(frozen=True)
class HashBaseline:
    """The bare Argon2id verify the sign-in scores compare against, and the other one measured.

    Both verify the same hashes at twostep's parameters: argon2-cffi's, and twostep's own, which computes
    with AVX-512/AVX2 where the CPU has them (twostep.domain.argon2id). The score's baseline is the faster
    of the two (the hash's own limit on this machine), so a score measures the service around the hash,
    never a hash cheaper than its baseline's; the note shows the score against the other.
    """

    rates: Rates
    text: str
    other_name: str
    other: Rates


def hash_baseline(
    cffi_runs: list[dict[str, float]], own_runs: list[dict[str, float]], where: str
) -> HashBaseline:
    """The baseline from the bare runs of both verifies (one run of each per round) on `where`."""
    per_round = ", ".join(
        f"{Rates.of_worker([c]).cpu:.1f}/{Rates.of_worker([o]).cpu:.1f}"
        for c, o in zip(cffi_runs, own_runs, strict=True)
    )
    rounds = f"argon2-cffi/twostep per CPU-s {per_round}"
    cffi, own = Rates.of_worker(cffi_runs), Rates.of_worker(own_runs)
    speedup = f"{own.cpu / cffi.cpu:.2f}x argon2-cffi's"
    if own.cpu >= cffi.cpu:
        text = (
            f"bare Argon2id verify, twostep's ({speedup}), on {where}: {own.wall:.1f}/s, {own.cpu:.1f}/CPU-s"
        )
        return HashBaseline(own, f"{text} (rounds: {rounds})", "argon2-cffi's verify in a bare loop", cffi)
    text = f"bare Argon2id verify, argon2-cffi's, on {where}: {cffi.wall:.1f}/s, {cffi.cpu:.1f}/CPU-s"
    other = f"twostep's own verify in a bare loop ({speedup})"
    return HashBaseline(cffi, f"{text} (rounds: {rounds})", other, own)


def ratio_row(
    name: str,
    ours: dict[str, Any],
    base: Rates,
    base_text: str,
    limit: float,
    run: Run,
    other: tuple[str, Rates] | None = None,
) -> Row:
    """`other`: the other bare hash measured (see HashBaseline), whose score goes in the note."""
    if refused := refusals(ours):
        return not_measured(name, f"≥ {limit:.2f}", refused)
    rate = Rates.of_load(ours)
    note = f"wall-clock ratio {rate.wall / base.wall:.2f}; {_busy(ours)}"
    if other is not None:  # a hash figure
        label, rates = other
        note += f"; against {label} ({rates.cpu:.1f}/CPU-s): {rate.cpu / rates.cpu:.3f}"
        note += f"; {split_note(ours, base)}"
    return Row(
        name,
        f"{rate.wall:,.1f}/s, {rate.cpu:,.1f}/CPU-s ({run.profile.clients} clients)",
        base_text,
        rate.cpu / base.cpu,
        f"≥ {limit:.2f}",
        True,
        limit,
        note,
    )


def rows(run: Run, results: HttpResults) -> list[Row]:
    where = "1 core" if run.cores.pinned else f"{len(os.sched_getaffinity(0))} cores"
    hashed = hash_baseline(results.hashes, results.own_hashes, where)
    if refused := refusals(results.bare_hello):
        raise RuntimeError(f"the bare /hello baseline: {refused}")
    bare_hello = Rates.of_load(results.bare_hello)
    hello_text = f"bare FastAPI + PyJWT route: {bare_hello.wall:,.0f}/s, {bare_hello.cpu:,.0f}/CPU-s"
    other = (hashed.other_name, hashed.other)
    return [
        ratio_row(LOGIN, results.login, hashed.rates, hashed.text, LOGIN_LIMIT, run, other),
        ratio_row(SIGNIN, results.signin, hashed.rates, hashed.text, SIGNIN_LIMIT, run, other),
        ratio_row(HELLO, results.hello, bare_hello, hello_text, HELLO_LIMIT, run),
        _rss_row(results, run),
    ]


def _rss_row(results: HttpResults, run: Run) -> Row:
    target = f"≤ {RSS_LIMIT_MIB:g} MiB"
    refused = [r for r in (refusals(results.login), refusals(results.signin), refusals(results.hello)) if r]
    if refused:  # a refused load allocates little: its peak is not the peak under load
        return not_measured(RSS, target, f"the load was refused: {refused[0]}")
    rss = results.rss_peaks[-1]
    if rss is None:
        return not_measured(RSS, target, "process gone")
    trail = ", ".join("-" if peak is None else f"{peak:.0f}" for peak in results.rss_peaks)
    return Row(
        RSS,
        f"{rss:.0f} MiB (VmHWM)",
        "-",
        rss,
        target,
        False,
        RSS_LIMIT_MIB,
        f"high-water mark after start-up and {run.profile.users} sign-ups, then after each round: {trail} MiB",
    )

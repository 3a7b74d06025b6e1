"""The Lambda side: authorizer cold start and warm rate, and the API handler's import time."""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.context import AUDIENCE, ISSUER, Run
from bench.procs import REPO, run_json
from bench.report import Row, not_measured
from bench.workers import effect_of, token_event

COLD = "authorizer cold start (new process to first Allow)"
WARM = "authorizer warm verifications/s"
IMPORT = "API Lambda handler import + first response"

AUTHORIZER_SCRIPT = """\
import json, sys
from twostep.aws.authorizer import handler
print(json.dumps(handler(json.loads(sys.argv[1]), None)))
"""
# The baseline does what any authorizer must: load the key, check the token, answer.
BARE_JWT_SCRIPT = """\
import json, sys
import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
event = json.loads(sys.argv[1])
key = load_pem_public_key(open(sys.argv[2], "rb").read())
claims = jwt.decode(event["authorizationToken"].split()[1], key, algorithms=["RS256"],
                    audience=sys.argv[3], issuer=sys.argv[4])
print(json.dumps({"policyDocument": {"Statement": [{"Effect": "Allow"}]}, "principalId": claims["sub"]}))
"""
# Import the handler module, then answer one GET /healthz: a handler that builds its app lazily on the
# first event (ours does) and one that builds it at import (the baseline) are then timed alike.
IMPORT_SCRIPT = """\
import importlib, json, sys, time
start = time.perf_counter()
module = importlib.import_module(sys.argv[1])
imported = time.perf_counter()
answer = module.handler(json.loads(sys.argv[2]), None)
done = time.perf_counter()
print(json.dumps({"status": answer["statusCode"], "import": imported - start, "total": done - start}))
"""
HEALTHZ_EVENT = {
    "resource": "/healthz",
    "path": "/healthz",
    "httpMethod": "GET",
    "headers": {"Host": "abc.execute-api.us-east-1.amazonaws.com"},
    "multiValueHeaders": {},
    "queryStringParameters": None,
    "multiValueQueryStringParameters": None,
    "pathParameters": None,
    "stageVariables": None,
    "requestContext": {
        "resourcePath": "/healthz",
        "httpMethod": "GET",
        "path": "/dev/healthz",
        "stage": "dev",
        "requestId": "bench",
        "identity": {"sourceIp": "127.0.0.1"},
    },
    "body": None,
    "isBase64Encoded": False,
}


@contextmanager
def _spawning_on(core: int | None) -> Iterator[None]:
    """Children spawned inside run on `core`: they inherit the spawning thread's CPU affinity. Not set in
    a `preexec_fn`: that makes subprocess fork() the whole bench process (~290 MiB with moto loaded)
    instead of vfork(), and copying its page tables took 11-15 ms of every measured cold start."""
    if core is None:
        yield
        return
    before = os.sched_getaffinity(0)  # this thread's only: the servers' threads keep theirs
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def compiled_env(env: dict[str, str]) -> dict[str, str]:
    """`env` with bytecode caching on: every process then loads .pyc files, twostep's as well as the
    installed libraries' (with PYTHONDONTWRITEBYTECODE inherited, each spawn compiled all of twostep
    from source while the baselines' libraries came precompiled)."""
    return {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}


Spawn = tuple[list[str], Callable[[str], bool]]  # a command, and the check of its first output line


def spawn_medians_ms(commands: list[Spawn], run: Run, env: dict[str, str]) -> list[float]:
    """Median wall time of each command from spawning it to reading its first output line, after one
    unmeasured round that writes the bytecode caches (as a deployed package would ship them). The
    commands take turns, in reversed order every other round, so a figure and its baselines meet the
    same state of the machine: run one after the other, any change of the host's speed between them went
    into the ratio."""
    samples: list[list[float]] = [[] for _ in commands]
    for attempt in range(run.profile.spawns + 1):
        order = list(range(len(commands)))
        for index in order[::-1] if attempt % 2 else order:
            argv, check = commands[index]
            elapsed = _spawn_ms(argv, run, env, check)
            if attempt:
                samples[index].append(elapsed)
    return [statistics.median(times) for times in samples]


def _spawn_ms(argv: list[str], run: Run, env: dict[str, str], check: Callable[[str], bool]) -> float:
    with _spawning_on(run.cores.server):
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    line = proc.stdout.readline() if proc.stdout else ""
    elapsed = time.perf_counter() - start
    _, err = proc.communicate(timeout=60)
    if proc.returncode != 0 or not check(line):
        last = [text for text in err.splitlines() if text.strip()][-1:] or [line[:200]]
        raise RuntimeError(f"a timed child process failed: {last[0]}")
    return elapsed * 1000


def _allowed(line: str) -> bool:
    return effect_of(json.loads(line)) == "Allow" if line.strip() else False


COLD_LIMIT_MS, COLD_OVER_EMPTY_MS = 50.0, 35.0
COLD_TARGET = f"≤ {COLD_LIMIT_MS:.0f} ms and ≤ empty interpreter + {COLD_OVER_EMPTY_MS:.0f} ms"


def cold_start_row(run: Run) -> Row:
    target = COLD_TARGET
    if importlib.util.find_spec("twostep.aws.authorizer") is None:
        return not_measured(COLD, target, "module twostep.aws.authorizer not present")
    env = compiled_env(run.twostep_env())
    event = json.dumps(token_event(run.token))
    py = sys.executable
    bare, bare_jwt, ours = spawn_medians_ms(
        [
            ([py, "-c", "pass"], lambda line: True),
            ([py, "-c", BARE_JWT_SCRIPT, event, str(run.key_pem), AUDIENCE, ISSUER], _allowed),
            ([py, "-c", AUTHORIZER_SCRIPT, event], _allowed),
        ],
        run,
        env,
    )
    return Row(
        COLD,
        f"{ours:.0f} ms (median of {run.profile.spawns})",
        f"python -c pass {bare:.0f} ms; bare PyJWT verify {bare_jwt:.0f} ms",
        ours,
        target,
        False,
        COLD_LIMIT_MS,
        f"{ours / bare_jwt:.2f}x the bare PyJWT script; {ours - bare:.0f} ms above an empty interpreter",
        judged=ours <= COLD_LIMIT_MS and ours - bare <= COLD_OVER_EMPTY_MS,
    )


WARM_LIMIT = 0.9


def warm_row(run: Run) -> Row:
    target = f"≥ {WARM_LIMIT}"
    if importlib.util.find_spec("twostep.aws.authorizer") is None:
        return not_measured(WARM, target, "module twostep.aws.authorizer not present")
    seconds = str(run.profile.micro_seconds)
    env = run.twostep_env()
    common = ["--seconds", seconds, "--token", run.token]
    bare = run_json(
        [
            "-m",
            "bench.workers",
            "jwt",
            *common,
            "--key",
            str(run.key_pem),
            "--issuer",
            ISSUER,
            "--audience",
            AUDIENCE,
        ],
        run.cores.server,
        env,
        timeout=120,
    )
    ours = run_json(["-m", "bench.workers", "authorizer", *common], run.cores.server, env, timeout=120)
    ours_rate, bare_rate = ours["ops"] / ours["seconds"], bare["ops"] / bare["seconds"]
    return Row(
        WARM,
        f"{ours_rate:,.0f}/s",
        f"bare PyJWT RS256 decode {bare_rate:,.0f}/s",
        ours_rate / bare_rate,
        target,
        True,
        WARM_LIMIT,
    )


def bare_lambda_module(routes: int, folder: Path) -> str:
    """Writes a bare FastAPI + Mangum app with `routes` routes (a body model each way, as ours have)."""
    lines = [
        "from fastapi import FastAPI",
        "from mangum import Mangum",
        "from pydantic import BaseModel",
        "class In(BaseModel):\n    name: str\n    value: int = 0",
        "class Out(BaseModel):\n    name: str",
        "app = FastAPI()",
        "@app.get('/healthz')\ndef healthz() -> dict[str, str]:\n    return {'status': 'ok'}",
    ]
    for index in range(routes - 1):
        lines.append(
            f"@app.post('/r{index}', response_model=Out)\ndef r{index}(body: In) -> Out:\n"
            "    return Out(name=body.name)"
        )
    lines.append("handler = Mangum(app, lifespan='off')")
    (folder / "bench_bare_lambda.py").write_text("\n".join(lines) + "\n")
    return "bench_bare_lambda"


def count_routes(run: Run) -> int:
    """Operations in twostep's OpenAPI document (routers may be nested, the document is flat)."""
    from twostep.api.app import create_app
    from twostep.container import build
    from twostep.settings import Settings

    settings = Settings(_env_file=None, sqlite_path=run.workdir / "routes.db", jwt_key_file=run.key_file)
    container = build(settings)
    try:
        paths = create_app(container).openapi()["paths"]
        return sum(len(operations) for operations in paths.values())
    finally:
        container.close()


def _lambda_times(modules: list[str], run: Run, env: dict[str, str]) -> list[tuple[float, float]]:
    """Median import and import + first response of each module, in ms, over fresh processes (the
    modules take turns, see `spawn_medians_ms`)."""
    event = json.dumps(HEALTHZ_EVENT)
    answers: list[list[dict[str, float]]] = [[] for _ in modules]

    def keeping(into: list[dict[str, float]]) -> Callable[[str], bool]:
        def keep(line: str) -> bool:
            answer = json.loads(line) if line.strip() else {}
            into.append(answer)
            return answer.get("status") == 200

        return keep

    commands = [
        ([sys.executable, "-c", IMPORT_SCRIPT, module, event], keeping(kept))
        for module, kept in zip(modules, answers, strict=True)
    ]
    spawn_medians_ms(commands, run, env)
    return [
        (
            statistics.median(a["import"] for a in kept[1:]) * 1000,  # [0]: the unmeasured first round
            statistics.median(a["total"] for a in kept[1:]) * 1000,
        )
        for kept in answers
    ]


def import_row(run: Run) -> Row:
    target = "≤ 1.3"
    if importlib.util.find_spec("twostep.aws.api_handler") is None:
        return not_measured(IMPORT, target, "module twostep.aws.api_handler not present")
    routes = count_routes(run)
    module = bare_lambda_module(routes, run.workdir)
    env = compiled_env(run.twostep_env(TWOSTEP_SQLITE_PATH=str(run.workdir / "lambda.db")))
    env["PYTHONPATH"] += os.pathsep + str(run.workdir)
    (bare_import, bare_total), (ours_import, ours_total) = _lambda_times(
        [module, "twostep.aws.api_handler"], run, env
    )
    return Row(
        IMPORT,
        f"{ours_total:.0f} ms (import {ours_import:.0f} ms)",
        f"bare FastAPI + Mangum, {routes} routes: {bare_total:.0f} ms (import {bare_import:.0f} ms)",
        ours_total / bare_total,
        target,
        False,
        1.3,
        "median over fresh processes of importing the handler module and answering GET /healthz",
    )

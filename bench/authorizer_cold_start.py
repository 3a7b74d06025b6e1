"""Cold start of the authorizer: a fresh Python process, from start to its first `Allow`.

    PYTHONPATH=src python bench/authorizer_cold_start.py [--runs 5]

Each run starts a new interpreter (as a new Lambda container would), imports
`twostep.aws.authorizer`, and answers one TOKEN event with a valid token (keys from a local key file,
revocation list from a SQLite file, so no network is involved). Printed: median wall time from process
spawn to exit, and inside the process the import time and the first call (settings, keys, verifier,
one RS256 verification, one read of the revocation list). Also lists whether any heavy module got
loaded (it must not, nor PyJWT or `cryptography` for an RS256 key file; `sqlite3`, the driver that
reads the list, is expected).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, os, sys, time
started = time.perf_counter()
from twostep.aws import authorizer
imported = time.perf_counter()
answer = authorizer.handler({"type": "TOKEN", "authorizationToken": "Bearer " + os.environ["BENCH_TOKEN"],
    "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/dev/GET/hello"}, None)
done = time.perf_counter()
heavy = sorted(m for m in ("fastapi", "starlette", "argon2", "boto3", "pydantic", "jwt", "cryptography", "twostep.settings",
    "twostep.storage.sqlite", "twostep.storage.dynamodb", "twostep.container", "twostep.services", "uvicorn",
    "mangum") if m in sys.modules)
print(json.dumps({"effect": answer["policyDocument"]["Statement"][0]["Effect"],
    "import_ms": (imported - started) * 1000, "first_call_ms": (done - imported) * 1000, "heavy": heavy}))
"""


def make_token(workdir: Path) -> tuple[str, dict[str, str]]:
    """A key file and a valid access token for it, made outside the measured process."""
    from twostep.domain.clock import SystemClock
    from twostep.domain.tokens import TokenIssuer
    from twostep.secrets.local import LocalKeyFile
    from twostep.storage.sqlite import SqliteStorage

    env = {
        "TWOSTEP_JWT_KEY_FILE": str(workdir / "keys.json"),
        "TWOSTEP_ISSUER": "https://bench.example",
        "TWOSTEP_AUDIENCE": "twostep-api",
        "TWOSTEP_STORAGE": "sqlite",
        "TWOSTEP_SQLITE_PATH": str(workdir / "twostep.db"),
    }
    SqliteStorage(workdir / "twostep.db").init_schema()
    clock = SystemClock()
    current = LocalKeyFile(workdir / "keys.json", "RS256", 2048).load(clock).current
    issuer = TokenIssuer(
        kid=current.kid,
        algorithm="RS256",
        key=current.signing_material,
        issuer=env["TWOSTEP_ISSUER"],
        audience=env["TWOSTEP_AUDIENCE"],
        ttl_seconds=900,
        clock=clock,
    )
    return issuer.issue(
        user_id="bench-user", email="bench@example.com", amr=("pwd", "sms"), sid="s1", auth_time=0
    ), env


def run_once(env: dict[str, str]) -> dict[str, object]:
    spawned = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    measured: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    measured["process_ms"] = (time.perf_counter() - spawned) * 1000
    return measured


def measure(runs: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        token, extra = make_token(Path(tmp))
        base = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
        env = {**base, **extra, "BENCH_TOKEN": token, "PYTHONDONTWRITEBYTECODE": "0"}
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(Path(__file__).parents[1] / "src"), base.get("PYTHONPATH")])
        )
        run_once(env)  # warm the bytecode cache, as a deployed package has its .pyc files
        results = [run_once(env) for _ in range(runs)]
    return {
        "runs": runs,
        "effect": sorted({str(r["effect"]) for r in results}),
        "heavy_modules": sorted({m for r in results for m in r["heavy"]}),  # type: ignore[attr-defined]
        "median_process_start_to_allow_ms": round(
            statistics.median(float(r["process_ms"]) for r in results), 1
        ),  # type: ignore[arg-type]
        "median_import_ms": round(statistics.median(float(r["import_ms"]) for r in results), 1),  # type: ignore[arg-type]
        "median_first_call_ms": round(statistics.median(float(r["first_call_ms"]) for r in results), 1),  # type: ignore[arg-type]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    print(json.dumps(measure(parser.parse_args().runs), indent=2))


if __name__ == "__main__":
    main()

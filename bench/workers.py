"""Micro-benchmarks run in their own (pinned) process: `python -m bench.workers KIND --seconds S`.

KIND is `argon2` (bare argon2-cffi verify, the parameters twostep uses), `argon2-twostep` (the same
verify through twostep's own Argon2id, `twostep.domain.argon2id`), `jwt` (bare PyJWT RS256
decode of `--token` with the PEM in `--key`) or `authorizer` (twostep's authorizer handler on a REST
TOKEN event carrying `--token`). Prints `{"ops", "seconds", "cpu_seconds"}` after a short warm-up:
on a shared machine ops per CPU-second is the stable figure, ops per second the one people quote.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc/dev/GET/hello"


def token_event(token: str) -> dict[str, str]:
    return {"type": "TOKEN", "authorizationToken": f"Bearer {token}", "methodArn": METHOD_ARN}


def effect_of(result: Any) -> str:
    """The policy effect of an authorizer answer (REST policy document or HTTP API simple response)."""
    if isinstance(result, dict) and "policyDocument" in result:
        return str(result["policyDocument"]["Statement"][0]["Effect"])
    if isinstance(result, dict) and "isAuthorized" in result:
        return "Allow" if result["isAuthorized"] else "Deny"
    return "?"


def argon2_op(_: argparse.Namespace) -> Callable[[], object]:
    from argon2 import PasswordHasher, Type

    hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID)
    stored = hasher.hash("bench-correct-horse-battery")
    return lambda: hasher.verify(stored, "bench-correct-horse-battery")


def twostep_argon2_op(_: argparse.Namespace) -> Callable[[], object]:
    """twostep's Argon2id verify without the service around it (its vector libargon2 or libsodium where
    it can, see twostep.domain.argon2id): the same hashes as argon2-cffi's, often computed for less."""
    from argon2 import PasswordHasher, Type

    from twostep.domain.argon2id import Argon2id

    argon2id = Argon2id(PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, type=Type.ID))
    stored = argon2id.hash("bench-correct-horse-battery")
    return lambda: argon2id.verify(stored, "bench-correct-horse-battery")


def jwt_op(args: argparse.Namespace) -> Callable[[], object]:
    import jwt
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    with open(args.key, "rb") as handle:
        key = load_pem_public_key(handle.read())
    return lambda: jwt.decode(
        args.token, key, algorithms=["RS256"], audience=args.audience, issuer=args.issuer
    )


def authorizer_op(args: argparse.Namespace) -> Callable[[], object]:
    from twostep.aws.authorizer import handler

    event = token_event(args.token)
    if effect_of(handler(event, None)) != "Allow":
        raise SystemExit("the authorizer did not allow the benchmark token")
    return lambda: handler(event, None)


OPS = {"argon2": argon2_op, "argon2-twostep": twostep_argon2_op, "jwt": jwt_op, "authorizer": authorizer_op}


def rate(op: Callable[[], object], seconds: float, warmup: float) -> dict[str, float]:
    end_warmup = time.perf_counter() + warmup
    while time.perf_counter() < end_warmup:
        op()
    ops, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while (elapsed := time.perf_counter() - start) < seconds:
        op()
        ops += 1
    return {"ops": ops, "seconds": elapsed, "cpu_seconds": time.process_time() - cpu_start}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.workers")
    parser.add_argument("kind", choices=sorted(OPS))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--token", default="")
    parser.add_argument("--key", default="")
    parser.add_argument("--issuer", default="")
    parser.add_argument("--audience", default="")
    args = parser.parse_args(argv)
    json.dump(rate(OPS[args.kind](args), args.seconds, args.warmup), sys.stdout)


if __name__ == "__main__":
    main()

"""The authorizer's cold start on the AWS path: its keys from a Secrets Manager secret and the revocation
list from DynamoDB, both served by a moto server in the bench process (loopback, plain HTTP).

Timed as the key-file row is (`figures_aws.cold_start_row`): the median wall time of fresh processes from
spawn to the first `Allow`, after one unmeasured spawn that writes the bytecode caches. On this path the
authorizer signs its two calls itself (`twostep.aws.signed_calls`), so the child must answer without
having imported boto3, botocore, PyJWT or `cryptography`; a child that did is reported, not timed. For
comparison, a bare script does what an authorizer built on the usual libraries does: boto3's
`get_secret_value`, then a PyJWT decode with the public key of the token's `kid`.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from bench.context import AUDIENCE, ISSUER, Run
from bench.figures_aws import COLD_LIMIT_MS, COLD_OVER_EMPTY_MS, COLD_TARGET, compiled_env, spawn_medians_ms
from bench.procs import child_env
from bench.report import Row, not_measured
from bench.workers import token_event

FIGURE = "authorizer cold start on the AWS path (secret + DynamoDB on a local moto server)"
HEAVY = ("boto3", "botocore", "jwt", "cryptography")
REGION = "us-east-1"
DUMMY = "bench"  # moto takes any credentials

# The answer's effect (or the error the handler raised) and which of HEAVY the process has loaded.
AUTHORIZER_SCRIPT = f"""\
import json, sys
from twostep.aws.authorizer import handler
try:
    effect = handler(json.loads(sys.argv[1]), None)["policyDocument"]["Statement"][0]["Effect"]
except Exception as exc:
    effect = type(exc).__name__ + ": " + str(exc)
print(json.dumps({{"effect": effect, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""
# The secret's records hold private PEMs (`KeyMaterial.to_json`); the public key is taken from the one
# the token names, loaded without the RSA key check, as `SigningKey.from_record` loads it.
BARE_BOTO3_SCRIPT = """\
import json, os, sys
import boto3, jwt
from cryptography.hazmat.primitives.serialization import load_pem_private_key
token = json.loads(sys.argv[1])["authorizationToken"].split()[1]
secret = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["TWOSTEP_SECRET_ARN"])
records = {r["kid"]: r for r in json.loads(secret["SecretString"])["signing_keys"]}
pem = records[jwt.get_unverified_header(token)["kid"]]["private_pem"].encode()
key = load_pem_private_key(pem, None, unsafe_skip_rsa_key_validation=True).public_key()
claims = jwt.decode(token, key, algorithms=["RS256"], audience=os.environ["TWOSTEP_AUDIENCE"],
                    issuer=os.environ["TWOSTEP_ISSUER"])
print(json.dumps({"effect": "Allow", "sub": claims["sub"]}))
"""


class AwsSetup(NamedTuple):
    """The moto server's endpoint, the secret holding the keys, the table, and a valid token."""

    endpoint: str
    secret_arn: str
    table: str
    token: str


def _pin(server: Any, core: int | None) -> None:
    """moto's serving thread (and the request threads it starts, which inherit it) on the load core,
    so the server does not share the timed child's core."""
    thread = getattr(server, "_thread", None)
    if core is not None and thread is not None and thread.native_id is not None:
        os.sched_setaffinity(thread.native_id, {core})


@contextmanager
def moto_aws_path(run: Run) -> Iterator[AwsSetup]:
    """A moto server with the secret and the (empty) table, stopped afterwards."""
    import boto3

    with warnings.catch_warnings():  # tests.conftest imports FastAPI's TestClient, which warns
        warnings.simplefilter("ignore")
        from tests.conftest import _serialised_moto_server
        from tests.live import free_port
    from twostep.domain.clock import SystemClock
    from twostep.domain.keys import KeyMaterial
    from twostep.domain.tokens import TokenIssuer
    from twostep.storage.dynamodb_schema import table_definition

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    server = _serialised_moto_server(free_port())
    server.start()
    try:
        _pin(server, run.cores.load)
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        session = boto3.session.Session(
            aws_access_key_id=DUMMY, aws_secret_access_key=DUMMY, region_name=REGION
        )
        clock = SystemClock()
        material = KeyMaterial.generate("RS256", clock.now())
        # moto keeps its state per process, not per server: names of their own, new on every call.
        name = f"twostep-bench-authorizer-{uuid.uuid4().hex[:8]}"
        secrets = session.client("secretsmanager", endpoint_url=endpoint)
        arn = secrets.create_secret(Name=name, SecretString=material.to_json())["ARN"]
        session.client("dynamodb", endpoint_url=endpoint).create_table(**table_definition(name))
        current = material.current
        issuer = TokenIssuer(
            kid=current.kid,
            algorithm="RS256",
            key=current.signing_material,
            issuer=ISSUER,
            audience=AUDIENCE,
            ttl_seconds=900,
            clock=clock,
        )
        token = issuer.issue(
            user_id="bench-user", email="bench@example.com", amr=("pwd", "sms"), sid="s1", auth_time=0
        )
        yield AwsSetup(endpoint, str(arn), name, token)
    finally:
        server.stop()


def child_environment(setup: AwsSetup) -> dict[str, str]:
    """What a Lambda container gives the function, pointed at moto: no other TWOSTEP_* or AWS_* variable
    of the parent's (a profile or a CA bundle there would change the path measured)."""
    env = {k: v for k, v in compiled_env(child_env()).items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": DUMMY,
            "AWS_SECRET_ACCESS_KEY": DUMMY,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,  # Lambda sets both; boto3 (the bare script) reads this one
            "AWS_ENDPOINT_URL": setup.endpoint,
            "TWOSTEP_STORAGE": "dynamodb",
            "TWOSTEP_DYNAMODB_TABLE": setup.table,
            "TWOSTEP_SECRET_ARN": setup.secret_arn,
            "TWOSTEP_ISSUER": ISSUER,
            "TWOSTEP_AUDIENCE": AUDIENCE,
        }
    )
    return env


def _effect(line: str) -> str:
    answer = json.loads(line) if line.strip() else {}
    return str(answer.get("effect", "?")) if isinstance(answer, dict) else "?"


def row(run: Run) -> Row:
    target = COLD_TARGET
    for module in ("twostep.aws.signed_calls", "moto"):
        if importlib.util.find_spec(module) is None:
            return not_measured(FIGURE, target, f"module {module} not present")
    answers: list[dict[str, Any]] = []

    def keep(line: str) -> bool:
        answers.append(json.loads(line) if line.strip() else {})
        return "effect" in answers[-1]

    py = sys.executable
    with moto_aws_path(run) as setup:
        env = child_environment(setup)
        event = json.dumps(token_event(setup.token))
        ours, bare, empty, with_ssl = spawn_medians_ms(
            [
                ([py, "-c", AUTHORIZER_SCRIPT, event], keep),
                ([py, "-c", BARE_BOTO3_SCRIPT, event], lambda line: _effect(line) == "Allow"),
                ([py, "-c", "pass"], lambda line: True),
                ([py, "-c", "import ssl"], lambda line: True),
            ],
            run,
            env,
        )
        refused = sorted({str(answer["effect"]) for answer in answers} - {"Allow"})
        if refused:
            return not_measured(FIGURE, target, f"the authorizer answered {'; '.join(refused)}")
        heavy = sorted({module for answer in answers for module in answer.get("heavy", [])})
        if heavy:
            return not_measured(FIGURE, target, f"the authorizer imported {', '.join(heavy)}")
    return Row(
        FIGURE,
        f"{ours:.0f} ms (median of {run.profile.spawns})",
        f"python -c pass {empty:.0f} ms; boto3 get_secret_value + PyJWT verify {bare:.0f} ms",
        ours,
        target,
        False,
        COLD_LIMIT_MS,
        f"{ours / bare:.2f}x the boto3 + PyJWT script (which reads no revocation list); "
        f"{ours - empty:.0f} ms above an empty interpreter; moto answers over plain HTTP on loopback, so "
        f"the TLS module a real endpoint needs (import ssl, {with_ssl - empty:.0f} ms here) and network "
        "round trips are not in the figure (moto's own time to answer the two calls is)",
        judged=ours <= COLD_LIMIT_MS and ours - empty <= COLD_OVER_EMPTY_MS,
    )

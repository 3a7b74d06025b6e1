"""On AWS the authorizer reads its secret and the revocation list with signed requests of its own
(`aws.signed_calls`), against moto's server over HTTP: no boto3, botocore, PyJWT or cryptography in a cold
start (nor `typing` or `pathlib`, a few ms each), the same list as boto3 reads, and boto3 taking over
whenever a signed read fails."""

from __future__ import annotations

import json
import logging
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.aws.conftest import ISSUER, AwsMode
from tests.aws.events import token_event
from tests.fresh_python import environment_without, run_python
from twostep.aws import authorizer, signed_calls
from twostep.aws.authorizer_revocations import (
    SignedRevocationReader,
    boto3_revocation_reader,
    revocation_source,
)
from twostep.aws.authorizer_settings import AuthorizerSettings
from twostep.aws.signed_calls import DYNAMODB, Credentials, SignedClient
from twostep.domain.clock import SystemClock
from twostep.domain.keys import KeyMaterial
from twostep.domain.rs256_verifier import Rs256TokenVerifier
from twostep.domain.tokens import TokenIssuer
from twostep.storage.dynamodb_client import serialize
from twostep.storage.dynamodb_revocations import revocation_item

pytestmark = pytest.mark.aws
HEAVY = ("boto3", "botocore", "jwt", "cryptography", "typing", "pathlib")


def issue(material: KeyMaterial, sid: str = "s1") -> str:
    key = material.current
    return TokenIssuer(
        kid=key.kid,
        algorithm="RS256",
        key=key.signing_material,
        issuer=ISSUER,
        audience="twostep-api",
        ttl_seconds=900,
        clock=SystemClock(),
    ).issue(user_id="u1", email="a@example.com", amr=("pwd", "sms"), sid=sid, auth_time=0)


def effect(token: str) -> str:
    try:
        answer = authorizer.handler(token_event(f"Bearer {token}"), None)
    except Exception as exc:
        return str(exc)
    return str(answer["policyDocument"]["Statement"][0]["Effect"])


def revoke(mode: AwsMode, session_id: str, when: datetime) -> None:
    mode.client("dynamodb").put_item(TableName=mode.table, Item=serialize(revocation_item(session_id, when)))


def dead_endpoint() -> str:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        return f"http://127.0.0.1:{listener.getsockname()[1]}"


def dead_client() -> SignedClient:
    return SignedClient(DYNAMODB, "us-east-1", Credentials("a", "b", None), dead_endpoint())


@pytest.fixture
def table(aws_mode: AwsMode) -> AwsMode:
    from twostep.storage.dynamodb_schema import table_definition

    aws_mode.client("dynamodb").create_table(**table_definition(aws_mode.table))
    return aws_mode


COLD_START = """
import json, os, sys
from twostep.aws import authorizer
answers, heavy = [], None
for token in sys.argv[1:]:
    try:
        answer = authorizer.handler({"type": "TOKEN", "authorizationToken": "Bearer " + token,
            "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abc/dev/GET/hello"}, None)
        answers.append(answer["policyDocument"]["Statement"][0]["Effect"])
    except Exception as exc:
        answers.append(str(exc))
    if heavy is None:  # after the first answer: a later check takes OpenSSL through cryptography
        heavy = [m for m in HEAVY_MODULES if m in sys.modules]
print(json.dumps({"answers": answers, "heavy": heavy}))
""".replace("HEAVY_MODULES", repr(HEAVY))


@pytest.mark.parametrize("form", ["plain", "sealed"])
def test_a_cold_start_on_aws_imports_no_aws_sdk_or_jwt_library(table: AwsMode, form: str) -> None:
    """Also from a secret whose private parts are sealed by KMS: its public records are read as cheaply."""
    if form == "sealed":
        from twostep.secrets.aws_sealed import seal

        value = seal(table.keys, table.client("kms"), table.kms_key_id)
        table.client("secretsmanager").put_secret_value(SecretId=table.secret_arn, SecretString=value)
    revoke(table, "ended", datetime.now(UTC))
    env = environment_without("TWOSTEP_", "AWS_ENDPOINT_URL_") | {
        "AWS_ENDPOINT_URL": table.endpoint,
        "TWOSTEP_STORAGE": "dynamodb",
        "TWOSTEP_DYNAMODB_TABLE": table.table,
        "TWOSTEP_SECRET_ARN": table.secret_arn,
        "TWOSTEP_ISSUER": ISSUER,
    }
    done = run_python(COLD_START, issue(table.keys), issue(table.keys, sid="ended"), env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"answers": ["Allow", "Unauthorized"], "heavy": []}


def test_the_lambda_environment_takes_the_signed_reads(table: AwsMode) -> None:
    assert effect(issue(table.keys)) == "Allow"
    assert isinstance(authorizer.get_verifier(), Rs256TokenVerifier)
    source = revocation_source(AuthorizerSettings.from_environ())
    assert isinstance(source, SignedRevocationReader)


def test_signed_and_boto3_reads_give_the_same_list(table: AwsMode) -> None:
    start = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
    for n in range(25):
        revoke(table, f"session-{n}", start + timedelta(seconds=n * 7.123457))
    client = signed_calls.signed_client(DYNAMODB)
    assert client is not None
    signed = SignedRevocationReader(client, table.table, lambda: pytest.fail("no fallback expected"))
    boto = boto3_revocation_reader(table.table)
    since = start + timedelta(seconds=50)
    assert signed.list_revocations(since) == boto.list_revocations(since)
    assert len(signed.list_revocations(since)) == 17  # n * 7.12 s >= 50 s from n = 8 on


def test_a_failed_signed_read_hands_the_list_to_boto3_for_good(
    table: AwsMode, caplog: pytest.LogCaptureFixture
) -> None:
    when = datetime.now(UTC)
    revoke(table, "gone", when)
    handed: list[int] = []

    def boto3_reader() -> object:
        handed.append(1)
        return boto3_revocation_reader(table.table)

    reader = SignedRevocationReader(dead_client(), table.table, boto3_reader)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="twostep.authorizer"):
        assert [r.session_id for r in reader.list_revocations(when - timedelta(seconds=1))] == ["gone"]
        assert [r.session_id for r in reader.list_revocations(when - timedelta(seconds=1))] == ["gone"]
    assert handed == [1]
    assert "read through boto3 from now on: Query failed: ConnectionRefusedError" in caplog.text


def test_a_failed_secret_read_leaves_the_keys_to_boto3(
    table: AwsMode, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", dead_endpoint())
    # boto3 honours that variable too: its session is made after the signed read failed, at moto again.
    real_session = boto3.session.Session

    def session_at_moto(*args: object, **kwargs: object) -> object:
        monkeypatch.delenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", raising=False)
        return real_session(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(boto3.session, "Session", session_at_moto)
    with caplog.at_level(logging.WARNING, logger="twostep.authorizer"):
        assert effect(issue(table.keys)) == "Allow"
    assert not isinstance(authorizer.get_verifier(), Rs256TokenVerifier)  # the general path's verifier
    assert "keys read through boto3: GetSecretValue failed: ConnectionRefusedError" in caplog.text


def test_an_unreachable_aws_still_fails_closed(table: AwsMode, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", dead_endpoint())
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(authorizer.AuthorizerUnavailable):
        authorizer.handler(token_event(f"Bearer {issue(table.keys)}"), None)


def test_key_refreshes_read_the_secret_through_one_client(
    table: AwsMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[SignedClient | None] = []
    real = signed_calls.signed_client

    def counted(*args: Any, **kwargs: Any) -> SignedClient | None:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(signed_calls, "signed_client", counted)
    monkeypatch.setattr(authorizer, "KEYS_REFRESH_SECONDS", 0.0)  # every token refreshes the keys
    token = issue(table.keys)
    assert [effect(token) for _ in range(3)] == ["Allow"] * 3
    secrets = [
        client for client in made if client is not None and client.service == signed_calls.SECRETS_MANAGER
    ]
    assert len(secrets) == 1


def test_a_retired_key_ages_out_while_the_secret_cannot_be_read(
    table: AwsMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, while Secrets Manager could not be read (down, throttling, the secret deleted or its
    policy changed), each refresh kept the verifier of the last read: a key retired after a leak stayed
    accepted past its tokens' lifetime, for as long as the reads failed."""
    from tests.aws.conftest import make_secret
    from twostep.aws import lazy
    from twostep.domain.clock import FixedClock

    class Monotonic:  # `time.monotonic` for `aws.lazy`, moved by hand
        now = 1000.0

        def monotonic(self) -> float:
            return self.now

    start = datetime.now(UTC)
    leaked = KeyMaterial.generate("RS256", start - timedelta(days=1))
    material = leaked.rotated("RS256", start)  # the leaked key retires now, its successor signs
    arn = make_secret(table.endpoint, material)
    monkeypatch.setenv("TWOSTEP_SECRET_ARN", arn)
    ticks, clock = Monotonic(), FixedClock(start)
    monkeypatch.setattr(lazy, "time", ticks)
    monkeypatch.setattr(authorizer, "clock", clock)
    authorizer.reset()

    def token(keys: KeyMaterial) -> str:
        return TokenIssuer(
            kid=keys.current.kid,
            algorithm="RS256",
            key=keys.current.signing_material,
            issuer=ISSUER,
            audience="twostep-api",
            ttl_seconds=900,
            clock=clock,
        ).issue(user_id="u1", email="a@example.com", amr=("pwd", "sms"), sid="s1", auth_time=0)

    assert effect(token(leaked)) == effect(token(material)) == "Allow"
    table.client("secretsmanager").delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    clock.advance(900 + 30 + 60)  # past the leaked key's last token
    ticks.now += authorizer.KEYS_REFRESH_SECONDS
    assert effect(token(leaked)) == "Unauthorized"
    assert effect(token(material)) == "Allow"

"""AWS mode: moto (over HTTP) provides DynamoDB, Secrets Manager and KMS; the handlers read `TWOSTEP_*`."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from twostep.aws import api_handler, authorizer
from twostep.domain.clock import SystemClock
from twostep.domain.keys import KeyMaterial
from twostep.secrets import aws as secrets_aws

ISSUER = "https://abcdef1234.execute-api.us-east-1.amazonaws.com"


@dataclass
class AwsMode:
    endpoint: str
    table: str
    secret_arn: str
    kms_key_id: str
    keys: KeyMaterial

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1")


def make_secret(endpoint: str, material: KeyMaterial) -> str:
    client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1")
    answer = client.create_secret(Name=f"twostep-{uuid.uuid4().hex[:8]}", SecretString=material.to_json())
    return str(answer["ARN"])


def make_kms_key(endpoint: str) -> str:
    client = boto3.client("kms", endpoint_url=endpoint, region_name="us-east-1")
    return str(client.create_key(Description="twostep test")["KeyMetadata"]["KeyId"])


LOGGERS = ("twostep", "uvicorn", "uvicorn.error", "uvicorn.access")


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The Lambda handler configures logging for its process; give other tests theirs back."""
    saved = [
        (logger, logger.handlers[:], logger.level, logger.propagate, logger.disabled)
        for logger in map(logging.getLogger, LOGGERS)
    ]
    yield
    for logger, handlers, level, propagate, disabled in saved:
        logger.handlers, logger.level, logger.propagate, logger.disabled = (
            handlers,
            level,
            propagate,
            disabled,
        )


@pytest.fixture(autouse=True)
def _aws_credentials(aws_test_environment: dict[str, str]) -> dict[str, str]:
    """Every AWS test gets dummy credentials and the region (restored afterwards)."""
    return aws_test_environment


@pytest.fixture
def aws_mode(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[AwsMode]:
    """A fresh table, secret and KMS key; the environment a deployed function would have."""
    material = KeyMaterial.generate("RS256", SystemClock().now())
    mode = AwsMode(
        endpoint=moto_server,
        table=f"twostep-{uuid.uuid4().hex[:10]}",
        secret_arn=make_secret(moto_server, material),
        kms_key_id=make_kms_key(moto_server),
        keys=material,
    )
    monkeypatch.chdir(tmp_path)  # no developer `.env` is read
    for name, value in {
        "AWS_ENDPOINT_URL": moto_server,
        "TWOSTEP_STAGE": "dev",
        "TWOSTEP_STORAGE": "dynamodb",
        "TWOSTEP_DYNAMODB_TABLE": mode.table,
        "TWOSTEP_SECRET_ARN": mode.secret_arn,
        "TWOSTEP_KMS_KEY_ID": mode.kms_key_id,
        "TWOSTEP_SMS_PROVIDERS": "console",
        "TWOSTEP_ISSUER": ISSUER,
        "TWOSTEP_RESEND_COOLDOWN_SECONDS": "0",
    }.items():
        monkeypatch.setenv(name, value)
    _reset_caches()
    yield mode
    _reset_caches()


def _reset_caches() -> None:
    api_handler.reset()
    authorizer.reset()
    secrets_aws.clear_cache()

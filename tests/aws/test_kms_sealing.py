"""Phone numbers sealed with KMS never read as "no phone": a process without the KMS key stops at start-up
(the table is marked by every process that seals), and a sealed number read without it is a 503."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import boto3
import pytest

from tests.aws.conftest import AwsMode
from tests.contract.helpers import make_user
from tests.live import run_cli
from twostep.domain.errors import ConfigurationError, StorageUnavailable
from twostep.storage.dynamodb import DynamoDbStorage
from twostep.storage.dynamodb_client import CLIENT_CONFIG
from twostep.storage.phone_crypto import PhoneCipher, derive_phone_index_key


def _storage(endpoint: str, table: str, cipher: PhoneCipher | None) -> DynamoDbStorage:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", config=CLIENT_CONFIG)
    return DynamoDbStorage(client, table, cipher)


def test_a_process_without_the_kms_key_refuses_a_sealed_table(aws_mode: AwsMode) -> None:
    table = f"sealed-{uuid.uuid4().hex[:10]}"
    kms = boto3.client("kms", endpoint_url=aws_mode.endpoint, region_name="us-east-1")
    sealing = _storage(
        aws_mode.endpoint, table, PhoneCipher(kms, aws_mode.kms_key_id, derive_phone_index_key(b"k" * 32))
    )
    sealing.init_schema()
    user = make_user(email="sealed@example.com", phone="+905555555551", phone_verified=True)
    sealing.add_user(user)

    plain = _storage(aws_mode.endpoint, table, None)
    with pytest.raises(ConfigurationError, match="TWOSTEP_KMS_KEY_ID"):
        plain.init_schema()
    with pytest.raises(StorageUnavailable):  # even if it got past start-up: a 503, never "no phone"
        plain.get_user(user.id)


def test_serve_without_the_kms_key_stops_with_one_line(aws_mode: AwsMode, tmp_path: Path) -> None:
    env = dict(os.environ)
    first = run_cli(env, "storage", "init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr  # with TWOSTEP_KMS_KEY_ID: marks the table
    env.pop("TWOSTEP_KMS_KEY_ID")
    refused = run_cli(env, "serve", "--port", "1", cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "TWOSTEP_KMS_KEY_ID" in lines[0], lines


def test_readiness_is_503_when_the_kms_key_cannot_seal(aws_mode: AwsMode) -> None:
    """Before, readiness only read and wrote a counter: with a wrong `TWOSTEP_KMS_KEY_ID` `/healthz/ready`
    answered 200 while every registration (which seals the number) answered 503; a load balancer kept
    sending sign-ups to a process that could not take one."""
    from datetime import UTC, datetime

    from twostep.domain.clock import FixedClock
    from twostep.services.health import HealthService

    kms = boto3.client("kms", endpoint_url=aws_mode.endpoint, region_name="us-east-1")
    wrong_key = str(uuid.uuid4())
    broken = _storage(
        aws_mode.endpoint,
        f"sealed-{uuid.uuid4().hex[:10]}",
        PhoneCipher(kms, wrong_key, derive_phone_index_key(b"k" * 32)),
    )
    broken.init_schema()
    with pytest.raises(StorageUnavailable, match="encryption key service"):
        HealthService(broken, FixedClock(datetime(2026, 1, 1, tzinfo=UTC))).ready()

    working = _storage(
        aws_mode.endpoint,
        f"sealed-{uuid.uuid4().hex[:10]}",
        PhoneCipher(kms, aws_mode.kms_key_id, derive_phone_index_key(b"k" * 32)),
    )
    working.init_schema()
    HealthService(working, FixedClock(datetime(2026, 1, 1, tzinfo=UTC))).ready()


def test_a_process_with_the_kms_key_refuses_a_table_of_plain_numbers(aws_mode: AwsMode) -> None:
    """Before, it marked the table sealed and went on: owner items are keyed by the number's HMAC with KMS
    and by the number itself without, so a number proven before the switch was proven again by a second
    account (two owners of one number; the other storages answer 409 at its sign-up)."""
    table = f"plain-{uuid.uuid4().hex[:10]}"
    plain = _storage(aws_mode.endpoint, table, None)
    plain.init_schema()
    owner = make_user(email="owner@example.com", phone="+905555555551")
    plain.add_user(owner)
    assert plain.prove_phone(owner, owner.phone)  # type: ignore[arg-type]

    kms = boto3.client("kms", endpoint_url=aws_mode.endpoint, region_name="us-east-1")
    sealing = _storage(
        aws_mode.endpoint, table, PhoneCipher(kms, aws_mode.kms_key_id, derive_phone_index_key(b"k" * 32))
    )
    with pytest.raises(ConfigurationError, match=r"TWOSTEP_KMS_KEY_ID: .* stored without KMS"):
        sealing.init_schema()
    plain.init_schema()  # still unmarked: the plain deployment starts as before


def test_a_table_without_plain_numbers_takes_the_kms_key(aws_mode: AwsMode) -> None:
    """Accounts without numbers hold nothing to re-key: the table is marked, and then refuses a plain start."""
    table = f"plain-{uuid.uuid4().hex[:10]}"
    plain = _storage(aws_mode.endpoint, table, None)
    plain.init_schema()
    plain.add_user(make_user(email="nophone@example.com", phone=None))

    kms = boto3.client("kms", endpoint_url=aws_mode.endpoint, region_name="us-east-1")
    cipher = PhoneCipher(kms, aws_mode.kms_key_id, derive_phone_index_key(b"k" * 32))
    _storage(aws_mode.endpoint, table, cipher).init_schema()
    _storage(aws_mode.endpoint, table, cipher).init_schema()  # marked: started again without a read of users
    with pytest.raises(ConfigurationError, match="are sealed with KMS"):
        plain.init_schema()

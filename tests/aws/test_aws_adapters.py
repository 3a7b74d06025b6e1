"""The AWS adapters on their own: the secret cache, failures mapped to 503-type errors, KMS sealing, the CLI."""

from __future__ import annotations

import json
import os
import threading
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.aws.conftest import AwsMode, make_kms_key, make_secret
from tests.contract.helpers import make_user
from tests.live import free_port, run_cli
from twostep.domain.clock import SystemClock
from twostep.domain.errors import (
    AccountExists,
    ConfigurationError,
    SecretStoreUnavailable,
    StorageUnavailable,
)
from twostep.domain.keys import KeyMaterial, VersionedKeys
from twostep.secrets import aws as secrets_aws
from twostep.secrets.aws import SecretsManagerKeys
from twostep.settings import Settings
from twostep.storage.dynamodb import DynamoDbStorage
from twostep.storage.dynamodb_client import CLIENT_CONFIG
from twostep.storage.phone_crypto import PhoneCipher, derive_phone_index_key

pytestmark = pytest.mark.aws


class CallCounter:
    """Counts API calls by operation with a botocore event hook on a boto3 session."""

    def __init__(self, session: boto3.session.Session, service: str) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        session.events.register(f"provide-client-params.{service}", self._record)

    def _record(self, params: dict[str, Any], event_name: str, **_: Any) -> None:
        self.calls.append((event_name.rsplit(".", 1)[-1], dict(params)))

    def count(self, operation: str) -> int:
        return sum(1 for name, _ in self.calls if name == operation)


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _dead_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens there


def test_secret_is_read_once_per_container(moto_server: str) -> None:
    secrets_aws.clear_cache()
    material = KeyMaterial.generate("ES256", SystemClock().now())
    arn = make_secret(moto_server, material)
    session = boto3.session.Session(region_name="us-east-1")
    counter = CallCounter(session, "secretsmanager")
    settings = _settings(secret_arn=arn)
    for _ in range(3):
        source = SecretsManagerKeys(session.client("secretsmanager", endpoint_url=moto_server), arn)
        loaded = source.load(SystemClock())
    assert loaded.to_json() == material.to_json()
    assert counter.count("GetSecretValue") == 1
    assert SecretsManagerKeys.from_settings(settings).load(SystemClock()) is loaded
    secrets_aws.clear_cache()


def test_unreachable_secret_store_is_a_clean_startup_failure() -> None:
    secrets_aws.clear_cache()
    client = boto3.client("secretsmanager", endpoint_url=_dead_endpoint(), region_name="us-east-1")
    with pytest.raises(SecretStoreUnavailable):
        SecretsManagerKeys(client, "arn:aws:secretsmanager:us-east-1:123456789012:secret:x").load(
            SystemClock()
        )


def test_secret_that_is_not_key_material_is_a_configuration_error(moto_server: str) -> None:
    secrets_aws.clear_cache()
    client = boto3.client("secretsmanager", endpoint_url=moto_server, region_name="us-east-1")
    arn = client.create_secret(Name=f"bad-{uuid.uuid4().hex[:8]}", SecretString="generated-password")["ARN"]
    with pytest.raises(ConfigurationError, match="keys generate"):
        SecretsManagerKeys(client, arn).load(SystemClock())


def _storage(endpoint: str, table: str, cipher: PhoneCipher | None = None) -> DynamoDbStorage:
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", config=CLIENT_CONFIG)
    return DynamoDbStorage(client, table, cipher)


def test_unreachable_dynamodb_is_storage_unavailable() -> None:
    storage = _storage(_dead_endpoint(), "twostep")
    with pytest.raises(StorageUnavailable):
        storage.ping()
    with pytest.raises(StorageUnavailable):
        storage.add_user(make_user())


def test_missing_table_is_storage_unavailable_until_init(moto_server: str) -> None:
    storage = _storage(moto_server, f"t-{uuid.uuid4().hex[:10]}")
    with pytest.raises(StorageUnavailable, match="does not exist"):
        storage.ping()
    storage.init_schema()
    storage.init_schema()  # idempotent
    storage.ping()


def test_sealed_phones_stay_unique_across_containers_with_their_own_data_keys(moto_server: str) -> None:
    table = f"t-{uuid.uuid4().hex[:10]}"
    key_id = make_kms_key(moto_server)
    index_key = derive_phone_index_key(b"k" * 32)
    session = boto3.session.Session(region_name="us-east-1")
    kms_calls = CallCounter(session, "kms")

    def container_storage() -> DynamoDbStorage:
        cipher = PhoneCipher(session.client("kms", endpoint_url=moto_server), key_id, index_key)
        return _storage(moto_server, table, cipher)

    first, second = container_storage(), container_storage()
    first.init_schema()
    users = [
        make_user(email=f"u{i}@example.com", phone=f"+90555555555{i}", phone_verified=True) for i in range(3)
    ]
    for user in users:
        first.add_user(user)
    assert kms_calls.count("GenerateDataKey") == 1  # one data key per container, not per write
    assert [second.get_user(user.id) for user in users] == users  # the other container decrypts
    assert kms_calls.count("Decrypt") == 1  # once per data key, then cached
    with pytest.raises(AccountExists):
        second.add_user(make_user(email="other@example.com", phone=users[0].phone))
    claimant = make_user(email="claimant@example.com", phone="+905555555559")
    first.add_user(claimant)  # an unproven claim, proven through the other container's data key
    assert second.prove_phone(claimant, claimant.phone)  # type: ignore[arg-type]
    assert first.get_user(claimant.id).phone_verified  # type: ignore[union-attr]
    with pytest.raises(AccountExists):
        second.add_user(make_user(email="late@example.com", phone=claimant.phone))


def test_cli_storage_init_and_keys_generate_for_the_secret(moto_server: str, tmp_path: Path) -> None:
    table = f"cli-{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    generated = run_cli(env, "keys", "generate", "--json", "--extra", "twilio_auth_token=abc")
    assert generated.returncode == 0, generated.stderr
    material = KeyMaterial.from_json(generated.stdout)
    assert material.current.algorithm == "RS256" and material.extra == {"twilio_auth_token": "abc"}
    env.update(
        AWS_ENDPOINT_URL=moto_server,
        TWOSTEP_STORAGE="dynamodb",
        TWOSTEP_DYNAMODB_TABLE=table,
        TWOSTEP_SECRET_ARN=make_secret(moto_server, material),
    )
    initialised = run_cli(env, "storage", "init")
    assert initialised.returncode == 0, initialised.stderr
    assert "storage ready (dynamodb)" in initialised.stdout
    described = boto3.client("dynamodb", endpoint_url=moto_server, region_name="us-east-1").describe_table(
        TableName=table
    )
    assert described["Table"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    listed = run_cli(env, "users", "list", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    env["AWS_ENDPOINT_URL"] = _dead_endpoint()
    down = run_cli(env, "storage", "init")
    assert down.returncode == 4 and down.stderr.startswith("twostep: ")  # a dependency is down: exit 4


def test_aws_mode_fixture_gives_a_dynamodb_container(aws_mode: AwsMode) -> None:
    from twostep.container import build

    container = build(Settings())
    try:
        assert type(container.storage).__name__ == "DynamoDbStorage"
        assert container.keys.current.kid == aws_mode.keys.current.kid
    finally:
        container.close()


def test_provider_credentials_come_from_the_secret(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from twostep.container import build

    secrets_aws.clear_cache()
    material = replace(
        KeyMaterial.generate("RS256", SystemClock().now()),
        extra={"TWOSTEP_TWILIO_AUTH_TOKEN": "from-the-secret", "verify_api_keys": "k1,k2", "unrelated": "x"},
    )
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    settings = _settings(
        storage="dynamodb",
        dynamodb_table=f"t-{uuid.uuid4().hex[:10]}",
        secret_arn=make_secret(moto_server, material),
    )
    container = build(settings)
    try:
        assert container.settings.twilio_auth_token is not None
        assert container.settings.twilio_auth_token.get_secret_value() == "from-the-secret"
        assert container.settings.verify_api_keys == ["k1", "k2"]
    finally:
        container.close()
        secrets_aws.clear_cache()


class _ReadsTogether(SecretsManagerKeys):
    """Its first read of the secret waits for the other rotation's first read (both read one version)."""

    def __init__(self, client: Any, arn: str, barrier: threading.Barrier) -> None:
        super().__init__(client, arn)
        self._barrier: threading.Barrier | None = barrier

    def _read(self) -> tuple[VersionedKeys, str | None]:
        found = super()._read()
        if self._barrier is not None:
            barrier, self._barrier = self._barrier, None
            barrier.wait(timeout=10)
        return found


def test_two_rotations_at_once_both_keep_their_new_key(moto_server: str) -> None:
    """Two `keys rotate` at once (two operators, or a scheduled job and a person) both read the secret,
    then both wrote it with no condition: the second write dropped the first one's new key, so tokens
    signed with it failed everywhere (or a leaked key's emergency rotation was silently undone). The
    write that lost now reads again and rotates from the winner's keys."""
    material = KeyMaterial.generate("ES256", SystemClock().now())
    arn = make_secret(moto_server, material)
    client = boto3.client("secretsmanager", endpoint_url=moto_server, region_name="us-east-1")
    barrier = threading.Barrier(2)
    made: list[str] = []

    def rotate() -> None:
        made.append(_ReadsTogether(client, arn, barrier).rotate(SystemClock(), "ES256", 2048).current.kid)

    threads = [threading.Thread(target=rotate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = KeyMaterial.from_json(client.get_secret_value(SecretId=arn)["SecretString"])
    assert len(made) == 2 and set(made) <= {key.kid for key in stored.signing_keys}
    assert material.current.kid in {key.kid for key in stored.signing_keys}
    secrets_aws.clear_cache()


def test_a_refused_secret_write_is_secret_store_unavailable(moto_server: str) -> None:
    """A write refused for another reason than a rival rotation is not retried as one."""
    arn = make_secret(moto_server, KeyMaterial.generate("ES256", SystemClock().now()))
    client = boto3.client("secretsmanager", endpoint_url=moto_server, region_name="us-east-1")
    refusing = _Refusing(client)
    with pytest.raises(SecretStoreUnavailable, match="could not be written"):
        SecretsManagerKeys(refusing, arn).rotate(SystemClock(), "ES256", 2048)
    assert refusing.writes == 1
    secrets_aws.clear_cache()


class _Refusing:
    """A Secrets Manager client whose writes are refused (as without secretsmanager:PutSecretValue)."""

    def __init__(self, client: Any) -> None:
        self._client, self.writes = client, 0

    def get_secret_value(self, **params: Any) -> Any:
        return self._client.get_secret_value(**params)

    def put_secret_value(self, **params: Any) -> Any:
        self.writes += 1
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutSecretValue")


def test_cli_rotates_the_key_in_the_secret(moto_server: str) -> None:
    material = KeyMaterial.generate("RS256", SystemClock().now())
    arn = make_secret(moto_server, material)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    env.update(AWS_ENDPOINT_URL=moto_server, TWOSTEP_SECRET_ARN=arn)
    rotated = run_cli(env, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    client = boto3.client("secretsmanager", endpoint_url=moto_server, region_name="us-east-1")
    stored = KeyMaterial.from_json(client.get_secret_value(SecretId=arn)["SecretString"])
    assert stored.current.kid != material.current.kid and stored.current.kid in rotated.stdout
    assert [key.kid for key in stored.signing_keys[1:]] == [material.current.kid]
    assert stored.signing_keys[1].retired_at is not None and stored.otp_hmac_key == material.otp_hmac_key

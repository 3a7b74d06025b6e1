"""The keys secret with its private parts sealed by KMS (`secrets/aws_sealed.py`), over moto's server.

Before, the secret's value was the plain `KeyMaterial.to_json()`, and the authorizer (which must read the
secret for the public keys) parsed every private signing key, the code HMAC key and the SMS credentials
(`extra`): code run in the authorizer could mint tokens for every account and send texts on the bill.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from tests.aws.conftest import AwsMode
from tests.aws.events import rest_event, token_event
from tests.aws.test_aws_mode import call, sign_in
from tests.aws.test_iam_grants import deploy_table
from twostep.aws import api_handler, authorizer
from twostep.aws.signed_calls import SignedClient
from twostep.domain.clock import SystemClock
from twostep.domain.errors import SecretStoreUnavailable
from twostep.secrets import aws as secrets_aws
from twostep.secrets import aws_sealed
from twostep.settings import Settings

pytestmark = pytest.mark.aws

API_KEY = "vk-sealed-secret-1"


@pytest.fixture
def read_by_authorizer(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every secret value the authorizer's own signed calls got back."""
    seen: list[str] = []
    real = SignedClient.call

    def recorded(client: SignedClient, operation: str, params: Any) -> Any:
        answer = real(client, operation, params)
        if operation == "GetSecretValue":
            seen.append(answer["SecretString"])
        return answer

    monkeypatch.setattr(SignedClient, "call", recorded)
    yield seen


def _with_api_key(mode: AwsMode) -> None:
    """The secret as an operator writes it: plain, with an SMS/API credential in `extra`."""
    material = replace(mode.keys, extra={"TWOSTEP_VERIFY_API_KEYS": API_KEY})
    mode.client("secretsmanager").put_secret_value(SecretId=mode.secret_arn, SecretString=material.to_json())


def rotate() -> None:
    """`twostep keys rotate` with `TWOSTEP_KMS_KEY_ID` set (the environment of `aws_mode`)."""
    keys = secrets_aws.SecretsManagerKeys.from_settings(Settings())
    keys.rotate(SystemClock(), "RS256", 2048, timedelta(0))
    secrets_aws.clear_cache()


def _secret_text(mode: AwsMode) -> str:
    return str(mode.client("secretsmanager").get_secret_value(SecretId=mode.secret_arn)["SecretString"])


def _holds_private_parts(text: str, mode: AwsMode) -> list[str]:
    hmac_key = base64.urlsafe_b64encode(mode.keys.otp_hmac_key).rstrip(b"=").decode()
    found = {"a private key": "PRIVATE KEY" in text, "the code HMAC key": hmac_key in text}
    found["extra"] = API_KEY in text or '"extra"' in text or "otp_hmac_key" in text
    return [name for name, present in found.items() if present]


def _allowed(token: str) -> bool:
    return bool(authorizer.handler(token_event(f"Bearer {token}"), None)["principalId"])


def test_a_plain_secret_is_sealed_on_its_first_rotation_and_both_functions_keep_working(
    aws_mode: AwsMode, read_by_authorizer: list[str]
) -> None:
    deploy_table(aws_mode)
    _with_api_key(aws_mode)
    before = sign_in(aws_mode)["tokens"]["accessToken"]  # signed from the plain secret
    assert _allowed(before)
    assert _holds_private_parts(read_by_authorizer[-1], aws_mode)  # the upgrade's starting point

    rotate()
    assert aws_sealed.is_sealed(json.loads(_secret_text(aws_mode)))
    assert _holds_private_parts(_secret_text(aws_mode), aws_mode) == []
    api_handler.reset()
    authorizer.reset()
    read_by_authorizer.clear()
    assert _allowed(before)  # a token of the old key still verifies from the sealed secret's public part
    status, _ = call(rest_event("POST", "/verifications", {"auth_id": "s-1", "recipient": "+905555555599"}))
    assert status == 401  # the API key from the sealed `extra` is in force…
    key = {"X-Api-Key": API_KEY}
    created = {"auth_id": "s-2", "recipient": "+905555555599"}
    assert call(rest_event("POST", "/verifications", created, headers=key))[0] in (200, 201)  # …and opens
    after = sign_in_again(aws_mode)
    assert _allowed(after)
    assert read_by_authorizer and all(_holds_private_parts(t, aws_mode) == [] for t in read_by_authorizer)

    rotate()  # a sealed secret stays sealed, under the key it was sealed with
    assert aws_sealed.is_sealed(json.loads(_secret_text(aws_mode)))
    authorizer.reset()
    assert _allowed(after)


def sign_in_again(mode: AwsMode) -> str:
    from tests.aws.test_aws_mode import USER, code_from_outbox

    status, started = call(
        rest_event("POST", "/login", {"email": USER["email"], "password": USER["password"]})
    )
    assert status == 200, started
    code = int(code_from_outbox(mode))
    status, tokens = call(rest_event("POST", f"/otp/{started['otpId']}/verify", {"otp": code}))
    assert status == 200, tokens
    return str(tokens["accessToken"])


def _sealed_under_another_context(mode: AwsMode) -> str:
    kms = mode.client("kms")
    honest = aws_sealed.seal(mode.keys, kms, mode.kms_key_id)
    data = json.loads(honest)
    other = kms.generate_data_key(
        KeyId=mode.kms_key_id, KeySpec="AES_256", EncryptionContext={"purpose": "twostep-phone"}
    )
    data["sealed"]["data_key"] = base64.b64encode(other["CiphertextBlob"]).decode()
    return json.dumps(data)


def _kms_refuses_decrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto opens with a disabled key and checks no IAM: KMS's refusal is made here."""
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    real = BaseClient._make_api_call

    def refusing(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if client.meta.service_model.signing_name == "kms" and operation == "Decrypt":
            error = {"Error": {"Code": "AccessDeniedException", "Message": "not allowed"}}
            raise ClientError(error, operation)  # type: ignore[arg-type]
        return real(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", refusing)


def test_a_sealed_part_kms_will_not_open_fails_closed_naming_the_cause(
    aws_mode: AwsMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret sealed under another encryption context, or KMS refusing to decrypt: the API answers 503
    (its start fails with the cause named), never signs with nothing or serves without its keys."""
    client = aws_mode.client("secretsmanager")
    client.put_secret_value(
        SecretId=aws_mode.secret_arn, SecretString=_sealed_under_another_context(aws_mode)
    )
    status, problem = call(rest_event("GET", "/healthz"))
    assert status == 503 and problem["code"] == "secret_store_unavailable", problem
    keys = secrets_aws.SecretsManagerKeys.from_settings(Settings())
    with pytest.raises(SecretStoreUnavailable, match=r"KMS refused to open .*InvalidCiphertextException"):
        keys.load_versioned()

    secrets_aws.clear_cache()
    client.put_secret_value(
        SecretId=aws_mode.secret_arn,
        SecretString=aws_sealed.seal(aws_mode.keys, aws_mode.client("kms"), aws_mode.kms_key_id),
    )
    _kms_refuses_decrypt(monkeypatch)  # as AWS does for a role without kms:Decrypt, or a disabled key
    with pytest.raises(SecretStoreUnavailable, match=r"KMS refused to open .*\(AccessDeniedException\)"):
        secrets_aws.SecretsManagerKeys.from_settings(Settings()).load_versioned()
    api_handler.reset()
    status, problem = call(rest_event("GET", "/healthz"))
    assert status == 503 and problem["code"] == "secret_store_unavailable", problem


def test_a_damaged_sealed_part_stops_the_api(aws_mode: AwsMode) -> None:
    data = json.loads(aws_sealed.seal(aws_mode.keys, aws_mode.client("kms"), aws_mode.kms_key_id))
    sealed = bytearray(base64.b64decode(data["sealed"]["material"]))
    sealed[-1] ^= 1
    data["sealed"]["material"] = base64.b64encode(bytes(sealed)).decode()
    aws_mode.client("secretsmanager").put_secret_value(
        SecretId=aws_mode.secret_arn, SecretString=json.dumps(data)
    )
    from twostep.domain.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="sealed part is damaged"):
        secrets_aws.SecretsManagerKeys.from_settings(Settings()).load_versioned()


def test_a_key_refresh_of_an_unchanged_sealed_secret_makes_no_kms_call(
    aws_mode: AwsMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API reads the secret again every key refresh: only a new version is opened with KMS."""
    from botocore.client import BaseClient

    rotate()
    decrypts: list[str] = []
    real = BaseClient._make_api_call

    def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "Decrypt":
            decrypts.append(operation)
        return real(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counted)
    keys = secrets_aws.SecretsManagerKeys.from_settings(Settings())
    first = keys.fetch_versioned()
    assert keys.fetch_versioned() == first and len(decrypts) == 1
    rotate()
    assert keys.fetch_versioned().version != first.version and len(decrypts) == 2


def test_an_empty_kms_key_id_leaves_a_plain_secret_plain(
    aws_mode: AwsMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`TWOSTEP_KMS_KEY_ID=` (empty) meant unset to the phone-number sealing but not to the key rotation,
    which asked KMS to seal with a key named "" and failed. Empty is now unset everywhere."""
    monkeypatch.setenv("TWOSTEP_KMS_KEY_ID", "")
    rotate()
    assert not aws_sealed.is_sealed(json.loads(_secret_text(aws_mode)))

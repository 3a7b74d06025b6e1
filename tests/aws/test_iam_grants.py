"""The IAM grants of `template.yaml` cover every AWS call the functions make (moto checks no IAM).

Each AWS request the Lambda handlers make while they serve a sign-up, a sign-in with its code, `/hello`,
a refresh, the factors page, a sign-out and the authorizer's checks is recorded (boto3's and the
authorizer's own signed calls) as the IAM actions it needs, and each must be allowed by an `Allow`
statement of that function's policy in the template: a missing grant passes every test on moto and
fails every such request on AWS.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Any

import pytest

from tests.aws.conftest import AwsMode
from tests.aws.events import http_v2_event, rest_event, token_event
from tests.aws.test_aws_mode import call, sign_in
from tests.aws.test_template import _template
from twostep.aws import api_handler, authorizer, authorizer_keys
from twostep.aws.signed_calls import SignedClient
from twostep.secrets.aws import SecretsManagerKeys

pytestmark = pytest.mark.aws

# The item actions a transaction is authorised as (DynamoDB has no IAM action for the transaction itself).
TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem"}
TRANSACT_ACTIONS["ConditionCheck"] = "ConditionCheckItem"


def iam_actions(service: str, operation: str, params: dict[str, Any]) -> set[str]:
    """The IAM actions one AWS request needs (SES v2 is authorised under `ses:`)."""
    if service == "ses" and operation == "SendEmail" and "Raw" in params.get("Content", {}):
        # SES v2 authorises a raw message as `ses:SendRawEmail` ("not authorized to perform
        # 'ses:SendRawEmail'" answers a SendEmail call without it); `ses:SendEmail` is asked as well.
        return {"ses:SendEmail", "ses:SendRawEmail"}
    if operation == "TransactWriteItems":
        return {f"dynamodb:{TRANSACT_ACTIONS[kind]}" for item in params["TransactItems"] for kind in item}
    if operation == "TransactGetItems":
        return {"dynamodb:GetItem"}
    return {f"{service}:{operation}"}


@pytest.fixture
def made_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """The IAM actions of every AWS request made while the test runs (boto3's and `signed_calls`')."""
    from botocore.client import BaseClient

    actions: set[str] = set()
    boto3_call, signed_call = BaseClient._make_api_call, SignedClient.call

    def recorded_boto3(client: Any, operation: str, params: dict[str, Any]) -> Any:
        actions.update(iam_actions(client.meta.service_model.signing_name, operation, params))
        return boto3_call(client, operation, params)

    def recorded_signed(client: SignedClient, operation: str, params: Any) -> Any:
        actions.update(iam_actions(client.service.signing_name, operation, dict(params)))
        return signed_call(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recorded_boto3)
    monkeypatch.setattr(SignedClient, "call", recorded_signed)
    yield actions


def allowed_actions(function: str) -> list[str]:
    """The action patterns the function's policy allows (Deny statements only narrow resources here)."""
    patterns: list[str] = []
    for policy in _template()["Resources"][function]["Properties"]["Policies"]:
        for statement in policy["Statement"]:
            if statement["Effect"] == "Allow":
                action = statement["Action"]
                patterns += [action] if isinstance(action, str) else action
    return patterns


def not_granted(actions: set[str], function: str) -> set[str]:
    patterns = [pattern.lower() for pattern in allowed_actions(function)]
    return {a for a in actions if not any(fnmatch.fnmatchcase(a.lower(), p) for p in patterns)}


def deploy_table(mode: AwsMode) -> None:
    """The table as the stack creates it, with TTL on (a function never creates it on AWS)."""
    from twostep.storage.dynamodb_schema import table_definition

    client = mode.client("dynamodb")
    client.create_table(**table_definition(mode.table))
    client.get_waiter("table_exists").wait(TableName=mode.table)
    client.update_time_to_live(
        TableName=mode.table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )


def test_the_api_function_may_make_every_call_of_a_sign_in(aws_mode: AwsMode, made_calls: set[str]) -> None:
    """Before, the API function's policy lacked `dynamodb:BatchGetItem`, which every sign-in makes (the
    account's lock and wrong-code count read together, the enrolled second factors): on AWS each
    `POST /login` was refused by IAM and answered 503."""
    deploy_table(aws_mode)
    made_calls.clear()
    signed_in = sign_in(aws_mode)
    token, refresh = signed_in["tokens"]["accessToken"], signed_in["tokens"]["refreshToken"]
    bearer = {"authorization": f"Bearer {token}"}
    assert call(http_v2_event("GET", "/hello", headers=bearer))[0] == 200
    assert call(http_v2_event("GET", "/me/factors", headers=bearer))[0] == 200
    status, renewed = call(rest_event("POST", "/token/refresh", {"refreshToken": refresh}))
    assert status == 200, renewed
    assert call(http_v2_event("DELETE", "/sessions", headers=bearer))[0] in (200, 204)
    assert {"dynamodb:BatchGetItem", "dynamodb:Query", "secretsmanager:GetSecretValue"} <= made_calls
    assert not_granted(made_calls, "ApiFunction") == set()


def test_the_api_function_may_send_an_email_through_ses(
    aws_mode: AwsMode, made_calls: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the API function's policy allowed `ses:SendEmail` alone, while twostep sends every email
    as a raw message (SES v2 `SendEmail` with `Content.Raw`), which SES authorises as
    `ses:SendRawEmail`: on AWS every emailed code and notice was refused (AccessDenied, answered 503)."""
    deploy_table(aws_mode)
    aws_mode.client("sesv2").create_email_identity(EmailIdentity="no-reply@example.com")
    monkeypatch.setenv("TWOSTEP_EMAIL_PROVIDER", "ses")
    monkeypatch.setenv("TWOSTEP_EMAIL_FROM", "no-reply@example.com")
    api_handler.reset()
    bearer = {"authorization": f"Bearer {sign_in(aws_mode)['tokens']['accessToken']}"}
    made_calls.clear()
    status, started = call(http_v2_event("POST", "/me/email/verify/start", headers=bearer))
    assert status == 202, started
    assert "ses:SendRawEmail" in made_calls
    assert not_granted(made_calls, "ApiFunction") == set()


def test_the_authorizer_may_make_every_call_it_makes(aws_mode: AwsMode, made_calls: set[str]) -> None:
    deploy_table(aws_mode)
    token = sign_in(aws_mode)["tokens"]["accessToken"]
    made_calls.clear()
    authorizer.reset()
    assert authorizer.handler(token_event(f"Bearer {token}"), None)["principalId"]
    assert made_calls == {"secretsmanager:GetSecretValue", "dynamodb:Query"}
    assert not_granted(made_calls, "AuthorizerFunction") == set()


def test_the_delivery_status_function_may_make_every_call_of_a_receipt(
    aws_mode: AwsMode, made_calls: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, its policy lacked `dynamodb:BatchGetItem` too, which the fallback of an undelivered text
    makes (its code's limit counters): on AWS such a receipt's fallback was refused by IAM."""
    from tests.aws.test_sns_receipts import CONTEXT, sns_message_id, subscription_event
    from tests.aws.test_sns_receipts import call as verification_call
    from twostep.aws import api_handler, sns_receipts

    deploy_table(aws_mode)
    monkeypatch.setenv("TWOSTEP_SMS_PROVIDERS", "sns")
    monkeypatch.setenv("TWOSTEP_VERIFY_API_KEYS", "vk-receipts-1")
    monkeypatch.setenv("TWOSTEP_CHANNEL_PROVIDERS", "voice:console")  # an undelivered text falls back
    monkeypatch.setenv("TWOSTEP_FALLBACK_CHANNELS", "voice")
    api_handler.reset()
    sns_receipts.reset()
    created = {"auth_id": "iam-1", "recipient": "+905555555555"}
    assert verification_call("POST", "/verifications", created)[0] == 200
    message_id = sns_message_id(aws_mode, "iam-1")
    made_calls.clear()
    try:
        undelivered = subscription_event(message_id, response="Phone is currently unreachable")
        assert sns_receipts.handler(undelivered, CONTEXT) == {"recorded": 1}
    finally:
        sns_receipts.reset()
    assert "dynamodb:Query" in made_calls or "dynamodb:GetItem" in made_calls
    assert not_granted(made_calls, "SnsDeliveryStatusFunction") == set()


def test_the_delivery_status_function_may_not_text() -> None:
    """A failed text's fallback goes by the channels of `TWOSTEP_FALLBACK_CHANNELS`, never SMS (the settings
    refuse it), and SNS carries SMS alone: nothing that function runs publishes to SNS. Before, its role
    might `sns:Publish` to any phone number, so code run in it (it reads lines of log groups) could text
    anyone on the account's bill."""
    from twostep.channels import registry

    fallback_channels = registry.channel_names()[1:]  # what `Settings.fallback_channels` accepts
    assert registry.SMS not in fallback_channels
    assert not any(registry.PROVIDERS["sns"].carrier(channel) for channel in fallback_channels)
    assert not_granted({"sns:Publish"}, "SnsDeliveryStatusFunction") == {"sns:Publish"}


@pytest.mark.parametrize("function", ["ApiFunction", "AuthorizerFunction", "SnsDeliveryStatusFunction"])
def test_each_function_that_reads_the_table_may_open_its_key_through_dynamodb(function: str) -> None:
    """The table is encrypted with the stack's own KMS key (`SSESpecification`), and DynamoDB opens that
    key as its caller: a role that may Query the table but not `kms:Decrypt` the key through DynamoDB is
    refused every request ("KMS key access denied", AWS's documented behaviour; moto encrypts nothing).
    Before, the authorizer could Decrypt only through Secrets Manager, so on AWS every read of the
    revocation list failed and every protected route answered 500."""
    resources = _template()["Resources"]
    assert resources["AuthTable"]["Properties"]["SSESpecification"]["KMSMasterKeyId"] == {"Ref": "DataKey"}
    statements = [s for p in resources[function]["Properties"]["Policies"] for s in p["Statement"]]

    def actions(statement: dict[str, Any]) -> list[str]:
        action = statement["Action"]
        return [action] if isinstance(action, str) else list(action)

    assert any(a.startswith("dynamodb:") for s in statements if s["Effect"] == "Allow" for a in actions(s))
    through_dynamodb = []
    for statement in statements:
        if statement["Effect"] != "Allow" or "kms:Decrypt" not in actions(statement):
            continue
        assert statement["Resource"] == {"Fn::GetAtt": ["DataKey", "Arn"]}
        condition = statement.get("Condition")
        if condition is None:
            through_dynamodb.append(statement)
            continue
        services = condition["StringEquals"]["kms:ViaService"]
        services = services if isinstance(services, list) else [services]
        if {"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"} in services:
            through_dynamodb.append(statement)
    assert through_dynamodb, f"{function} may not open the table's key through DynamoDB"


def test_the_authorizer_may_not_open_the_secrets_sealed_private_part() -> None:
    """The authorizer reads the keys secret for its public keys; the private keys, the code HMAC key and
    `extra` are sealed inside it under `aws_sealed.ENCRYPTION_CONTEXT` by a direct KMS call. Before, the
    secret held them in plain and the authorizer parsed them all: its role must stay unable to Decrypt
    the key directly (only through Secrets Manager and DynamoDB), and an explicit Deny names the context."""
    from twostep.secrets.aws_sealed import ENCRYPTION_CONTEXT

    statements = [
        s
        for p in _template()["Resources"]["AuthorizerFunction"]["Properties"]["Policies"]
        for s in p["Statement"]
    ]
    decrypts = [
        s
        for s in statements
        if "kms:Decrypt" in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    ]
    allowed = [s for s in decrypts if s["Effect"] == "Allow"]
    assert allowed and all("kms:ViaService" in s["Condition"]["StringEquals"] for s in allowed)
    (denied,) = [s for s in decrypts if s["Effect"] == "Deny"]
    condition = denied["Condition"]["StringEquals"]
    assert condition == {f"kms:EncryptionContext:{k}": v for k, v in ENCRYPTION_CONTEXT.items()}


def sealed_by_a_rotation() -> None:
    """The keys secret as `twostep keys rotate` with `TWOSTEP_KMS_KEY_ID` leaves it: private parts sealed."""
    from tests.aws.test_sealed_keys_secret import rotate

    rotate()


def test_the_authorizers_general_path_reads_only_the_public_keys_and_never_calls_kms(
    aws_mode: AwsMode, made_calls: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through boto3 (where the fast path gives way) the authorizer must not try to open the sealed part:
    it may not, and a KMS refusal would deny every token."""
    deploy_table(aws_mode)
    sealed_by_a_rotation()
    token = sign_in(aws_mode)["tokens"]["accessToken"]
    monkeypatch.setattr(authorizer_keys, "rs256_verifier_from_secret", lambda *args: None)
    parsed: list[Any] = []
    real = SecretsManagerKeys.load_versioned

    def recorded(keys: SecretsManagerKeys) -> Any:
        parsed.append(real(keys))
        return parsed[-1]

    monkeypatch.setattr(SecretsManagerKeys, "load_versioned", recorded)
    authorizer.reset()
    made_calls.clear()
    assert authorizer.handler(token_event(f"Bearer {token}"), None)["principalId"]
    assert made_calls == {"secretsmanager:GetSecretValue", "dynamodb:Query"}
    assert not_granted(made_calls, "AuthorizerFunction") == set()
    (versioned,) = parsed
    material = versioned.material
    assert all(key.private_key is None and key.secret is None for key in material.signing_keys)
    assert (material.otp_hmac_key, material.extra) == (b"", {})


def test_the_api_may_make_every_call_of_a_sealed_secret(aws_mode: AwsMode, made_calls: set[str]) -> None:
    deploy_table(aws_mode)
    sealed_by_a_rotation()
    api_handler.reset()
    made_calls.clear()
    sign_in(aws_mode)
    assert "kms:Decrypt" in made_calls
    assert not_granted(made_calls, "ApiFunction") == set()

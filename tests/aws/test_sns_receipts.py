"""SNS SMS delivery status on Lambda: a code texted through SNS (moto), then SNS's delivery-status log line
delivered by a CloudWatch Logs subscription (gzip + base64, the real event format) to the receipts function."""

from __future__ import annotations

import base64
import gzip
import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.aws.conftest import AwsMode
from tests.aws.events import EVENTS, http_v2_event, json_body
from tests.conftest import settings_for_tests
from twostep.aws import api_handler, sns_receipts
from twostep.aws.lazy import BuiltOnce
from twostep.container import build
from twostep.domain.clock import FixedClock
from twostep.domain.models import Tenant
from twostep.domain.receipts import InvalidReceipt
from twostep.services.verification_input import verification_id
from twostep.storage.memory import MemoryStorage

pytestmark = pytest.mark.aws

PHONE = "+905555555555"
KEY = {"X-Api-Key": "vk-receipts-1"}
# The function's Lambda context, in the account and region of `events/sns_delivery_status.json`.
CONTEXT = SimpleNamespace(invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:twostep-sns")


@pytest.fixture
def sns_mode(aws_mode: AwsMode, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsMode]:
    monkeypatch.setenv("TWOSTEP_SMS_PROVIDERS", "sns")
    monkeypatch.setenv("TWOSTEP_VERIFY_API_KEYS", "vk-receipts-1")
    api_handler.reset()
    sns_receipts.reset()
    yield aws_mode
    sns_receipts.reset()


def subscription_event(
    message_id: str, status: str = "FAILURE", response: str | None = None, log_group: str | None = None
) -> dict[str, Any]:
    """SNS's log line for `message_id`, as CloudWatch Logs hands it to a subscribed function (from
    `log_group`: by default SNS's failure group of the test account)."""
    batch = json.loads((EVENTS / "sns_delivery_status.json").read_text())
    if log_group is not None:
        batch["logGroup"] = log_group
    line = json.loads(batch["logEvents"][0]["message"])
    line["notification"]["messageId"] = message_id
    line["status"] = status
    if response is not None:
        line["delivery"]["providerResponse"] = response
    batch["logEvents"][0]["message"] = json.dumps(line)
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(batch).encode())).decode()}}


def call(method: str, path: str, body: Any = None, query: str = "") -> tuple[int, Any]:
    event = http_v2_event(method, path, body, headers=KEY)
    event["rawQueryString"] = query
    response = api_handler.handler(event, None)
    return int(response["statusCode"]), json_body(response)


def sns_message_id(mode: AwsMode, auth_id: str) -> str:
    """The SNS MessageId the delivery record holds (read from the table's index, as storage does)."""
    challenge = verification_id(auth_id, Tenant("default"))
    answer = mode.client("dynamodb").query(
        TableName=mode.table,
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :p",
        ExpressionAttributeValues={":p": {"S": f"DELIVERIES#{challenge}"}},
    )
    (item,) = answer["Items"]
    assert item["provider"]["S"] == "sns" and "destination" not in item
    return str(item["message_id"]["S"])


def test_sns_delivery_status_reaches_the_verification_status(sns_mode: AwsMode) -> None:
    status, created = call("POST", "/verifications", {"auth_id": "sns-1", "recipient": PHONE})
    assert status == 200, created
    status, shown = call("GET", "/verifications/status", query="auth_id=sns-1")
    assert status == 200 and shown["delivery"]["status"] == "sent", shown
    message_id = sns_message_id(sns_mode, "sns-1")

    assert sns_receipts.handler(subscription_event(message_id), CONTEXT) == {"recorded": 1}
    status, shown = call("GET", "/verifications/status", query="auth_id=sns-1")
    assert shown["delivery"] | {"status": "undelivered", "provider": "sns"} == shown["delivery"]
    # SNS logs each text once, but Lambda may run a batch twice: the replay and a later SUCCESS change nothing.
    assert sns_receipts.handler(subscription_event(message_id), CONTEXT) == {"unchanged": 1}
    assert sns_receipts.handler(subscription_event(message_id, "SUCCESS"), CONTEXT) == {"unchanged": 1}
    assert sns_receipts.handler(subscription_event("another-senders-message"), CONTEXT) == {"unknown": 1}


def test_control_messages_and_foreign_events(sns_mode: AwsMode) -> None:
    control = {"messageType": "CONTROL_MESSAGE", "logEvents": [{"id": "", "timestamp": 0, "message": "ok"}]}
    event = {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(control).encode())).decode()}}
    assert sns_receipts.handler(event, CONTEXT) == {}
    with pytest.raises(InvalidReceipt):
        sns_receipts.handler({"Records": []}, CONTEXT)
    with pytest.raises(InvalidReceipt):
        sns_receipts.handler({"awslogs": {"data": "not base64 gzip"}}, CONTEXT)


def test_a_container_without_delivery_records_fails_clearly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Not an AttributeError deep in the loop: a named error Lambda retries, and a log line saying why."""
    built = build(settings_for_tests(tmp_path), storage=MemoryStorage(), clock=FixedClock())
    monkeypatch.setattr(sns_receipts, "_container", BuiltOnce(lambda: replace(built, receipts=None)))

    with caplog.at_level(logging.ERROR, "twostep.aws"), pytest.raises(sns_receipts.ReceiptsUnavailable):
        sns_receipts.handler(subscription_event("some-message"), CONTEXT)

    assert "has no delivery records; 1 line(s) left" in caplog.text


FORGED_GROUPS = [
    "/aws/lambda/some-other-function",  # any log group of the account its writers control
    "sns/us-east-1/123456789012/DirectPublishToPhoneNumber/Failure/extra",
    "sns/eu-west-1/123456789012/DirectPublishToPhoneNumber/Failure",  # another region's
    "sns/us-east-1/210987654321/DirectPublishToPhoneNumber",  # another account's
    "",
]


@pytest.mark.parametrize("log_group", FORGED_GROUPS)
def test_lines_of_any_other_log_group_are_refused(sns_mode: AwsMode, log_group: str) -> None:
    """Before, the handler ignored the event's `logGroup` (and the template's invoke permission named
    none), so a line written to any log group of the account and subscribed to the function moved the
    delivery record of a text: a forged failure marked it undelivered (and could trigger a fallback
    send). Only SNS's two delivery-status groups of the function's account and region are read."""
    status, created = call("POST", "/verifications", {"auth_id": "forged-1", "recipient": PHONE})
    assert status == 200, created
    message_id = sns_message_id(sns_mode, "forged-1")

    forged = subscription_event(message_id, log_group=log_group)
    assert sns_receipts.handler(forged, CONTEXT) == {"refused": 1}
    status, shown = call("GET", "/verifications/status", query="auth_id=forged-1")
    assert shown["delivery"]["status"] == "sent", shown

    success_group = "sns/us-east-1/123456789012/DirectPublishToPhoneNumber"
    assert sns_receipts.handler(subscription_event(message_id, log_group=success_group), CONTEXT) == {
        "recorded": 1
    }


def test_without_the_functions_arn_every_line_is_refused(sns_mode: AwsMode) -> None:
    """Fail closed: with no account and region to compare, no group is the function's own."""
    assert sns_receipts.handler(subscription_event("some-message"), None) == {"refused": 1}


def test_a_bad_setting_fails_each_batch_with_one_line_naming_it(
    sns_mode: AwsMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The function read its settings with `Settings()` alone: a bad one raised pydantic's multi-line
    dump on every batch. It now says the one line the API function and `twostep serve` say."""
    from twostep.domain.errors import ConfigurationError

    monkeypatch.setenv("TWOSTEP_OTP_LENGTH", "99")
    with pytest.raises(ConfigurationError) as refused:
        sns_receipts.handler(subscription_event("any-message"), CONTEXT)
    assert str(refused.value).startswith("TWOSTEP_OTP_LENGTH: ") and "\n" not in str(refused.value)

"""The Spring 2FA client's flow in AWS mode: API Gateway events -> Mangum handler -> DynamoDB, keys from Secrets Manager.

Then the authorizer, in its three event forms, with the token the flow issued and with garbage.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any
from urllib.request import urlopen

import pytest

from tests.aws.conftest import AwsMode, make_secret
from tests.aws.events import (
    http_v2_authorizer_event,
    http_v2_event,
    json_body,
    request_event,
    rest_event,
    token_event,
)
from twostep.aws import api_handler, authorizer
from twostep.settings import Settings
from twostep.storage.dynamodb import DynamoDbStorage

pytestmark = pytest.mark.aws

PHONE = "+905555555555"
USER = {
    "firstName": "Cem",
    "lastName": "Onan",
    "email": "test@example.com",
    "password": "correct horse battery staple",
    "phoneNumber": PHONE,
}


def call(event: dict[str, Any]) -> tuple[int, Any]:
    response = api_handler.handler(event, None)
    return int(response["statusCode"]), json_body(response)


def code_from_outbox(mode: AwsMode) -> str:
    """The console provider kept the text in DynamoDB; read it as `twostep sms outbox` would."""
    reader = DynamoDbStorage.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    entries = reader.list_outbox(to=PHONE, last=1)
    assert entries, "no SMS in the outbox"
    return _code(entries[-1].body)


def code_from_sns(mode: AwsMode) -> str:
    """SNS (moto) recorded the text it was asked to send; moto lists it on its inspection endpoint, which
    dumps every model of the shared server: on a loaded machine that outlasted a 10 s bound (as in
    tests/sms/test_sns.py's `recorded_sms`), so the bound is generous."""
    with urlopen(f"{mode.endpoint}/moto-api/data.json", timeout=60) as response:
        sent = [sms for sms in json.load(response)["sns"]["SMS"] if sms["phone_number"] == PHONE]
    assert sent, "SNS sent no SMS"
    return _code(sent[-1]["message"])


def _code(body: str) -> str:
    match = re.match(r"\d{6}", body)
    assert match is not None
    return match.group(0)


def sign_in(mode: AwsMode) -> dict[str, Any]:
    status, user = call(rest_event("POST", "/register", USER))
    assert status == 201, user
    status, started = call(
        rest_event("POST", "/login", {"email": USER["email"], "password": USER["password"]})
    )
    assert status == 200, started
    assert started["redirectPath"] == f"/otp/{started['otpId']}/verify"
    code = code_from_sns(mode) if os.environ["TWOSTEP_SMS_PROVIDERS"] == "sns" else code_from_outbox(mode)
    status, tokens = call(rest_event("POST", f"/otp/{started['otpId']}/verify", {"otp": int(code)}))
    assert status == 200, tokens
    assert tokens["tokenType"] == "Bearer"
    return {"user": user, "tokens": tokens}


@pytest.mark.parametrize("provider", ["console", "sns"])
def test_spring_client_flow_then_authorizer_in_every_form(
    aws_mode: AwsMode, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWOSTEP_SMS_PROVIDERS", provider)
    result = sign_in(aws_mode)
    token, user_id = result["tokens"]["accessToken"], result["user"]["id"]

    status, hello = call(http_v2_event("GET", "/hello", headers={"authorization": f"Bearer {token}"}))
    assert (status, hello) == (200, {"message": "Hello, test@example.com!"})
    status, _ = call(rest_event("GET", "/hello", headers={"Authorization": "Bearer not-a-token"}))
    assert status == 401

    allowed = [
        authorizer.handler(token_event(f"Bearer {token}"), None),
        authorizer.handler(
            token_event(token), None
        ),  # raw token, as the Lambda JWT tutorial and the serverless message board send it
        authorizer.handler(request_event({"authorization": f"Bearer {token}"}), None),  # lower-case header
        authorizer.handler(request_event({"AUTHORIZATION": token}), None),
    ]
    for answer in allowed:
        assert answer["principalId"] == user_id
        statement = answer["policyDocument"]["Statement"][0]
        assert statement["Effect"] == "Allow"
        assert statement["Resource"] == "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/dev/*"
        assert answer["context"] == {"sub": user_id, "email": "test@example.com", "amr": "pwd sms"}
        assert all(isinstance(value, str) for value in answer["context"].values())

    v2 = authorizer.handler(http_v2_authorizer_event({"authorization": f"Bearer {token}"}), None)
    assert v2["isAuthorized"] is True and v2["context"]["sub"] == user_id


@pytest.mark.parametrize(
    "event",
    [
        token_event("Bearer garbage"),
        token_event(""),
        request_event({"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}),
        request_event({}),
    ],
    ids=["token-garbage", "token-empty", "request-alg-none", "request-missing"],
)
def test_rest_authorizer_refuses_with_unauthorized(aws_mode: AwsMode, event: dict[str, Any]) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.handler(event, None)


@pytest.mark.parametrize("headers", [{"authorization": "Bearer garbage"}, {}], ids=["garbage", "missing"])
def test_http_api_authorizer_denies(aws_mode: AwsMode, headers: dict[str, str]) -> None:
    assert authorizer.handler(http_v2_authorizer_event(headers), None) == {"isAuthorized": False}


def test_token_of_another_issuer_is_refused(aws_mode: AwsMode, monkeypatch: pytest.MonkeyPatch) -> None:
    token = sign_in(aws_mode)["tokens"]["accessToken"]
    monkeypatch.setenv("TWOSTEP_ISSUER", "https://someone-else.example")
    authorizer.reset()
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.handler(token_event(token), None)


def test_phone_numbers_are_sealed_at_rest(aws_mode: AwsMode) -> None:
    sign_in(aws_mode)
    items = aws_mode.client("dynamodb").scan(TableName=aws_mode.table)["Items"]  # test inspection only
    users = [item for item in items if item["SK"]["S"] == "PROFILE"]
    challenges = [item for item in items if item["SK"]["S"] == "CHALLENGE"]
    assert len(users) == 1 and len(challenges) == 1
    for item in users + challenges:
        assert "phone" not in item and "phone_ct" in item and "phone_dk" in item
    keys = [item["PK"]["S"] for item in items if item["PK"]["S"] != "OUTBOX"]  # the dev outbox is plain
    assert not any(PHONE in pk or PHONE[1:] in pk for pk in keys)
    assert any(pk.startswith("PHONE#h:") for pk in keys)
    status, _ = call(rest_event("POST", "/register", {**USER, "email": "other@example.com"}))
    assert status == 409  # the keyed hash still makes the number unique


def test_api_answers_503_while_its_secret_is_unreadable(
    aws_mode: AwsMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWOSTEP_SECRET_ARN", aws_mode.secret_arn + "-missing")
    status, problem = call(rest_event("GET", "/healthz"))
    assert status == 503 and problem["code"] == "secret_store_unavailable"
    monkeypatch.setenv("TWOSTEP_SECRET_ARN", aws_mode.secret_arn)  # fixed: the next invocation starts
    assert call(rest_event("GET", "/healthz"))[0] == 200


def test_verification_api_with_an_api_key_from_the_secret(
    aws_mode: AwsMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Flowroute-compatible API on Lambda + DynamoDB in staging: the key comes from the secret's `extra`."""
    from dataclasses import replace

    material = replace(aws_mode.keys, extra={"TWOSTEP_VERIFY_API_KEYS": "vk-test-1"})
    monkeypatch.setenv("TWOSTEP_SECRET_ARN", make_secret(aws_mode.endpoint, material))
    monkeypatch.setenv("TWOSTEP_STAGE", "staging")
    create = {"auth_id": "order-42", "recipient": PHONE}
    status, refused = call(rest_event("POST", "/verifications", create))
    assert status == 401, refused
    key = {"X-Api-Key": "vk-test-1"}
    status, created = call(rest_event("POST", "/verifications", create, headers=key))
    assert status in (200, 201), created
    code = code_from_outbox(aws_mode)
    status, wrong = call(
        rest_event("GET", "/verifications", headers=key, query={"auth_id": "order-42", "code": "x"})
    )
    assert status in (400, 401) and "reason" in wrong
    query = {"auth_id": "order-42", "code": code}
    status, checked = call(rest_event("GET", "/verifications", headers=key, query=query))
    assert (status, checked["authenticated"]) == (200, True), checked


def test_the_api_container_makes_one_boto3_session(aws_mode: AwsMode, boto3_sessions: list[Any]) -> None:
    """The storage (with KMS and the key material for the phone index) and the key ring share a session:
    each new one costs a Lambda cold start its endpoint data and credentials again."""
    status, _ = call(rest_event("GET", "/healthz"))
    assert status == 200
    assert len(boto3_sessions) == 1


def behind_base_path(event: dict[str, Any], base_path: str) -> dict[str, Any]:
    """`event` as API Gateway sends it through a custom domain whose API mapping is `base_path`: the
    mapping stays in the path the function sees (the route was matched without it)."""
    event["headers"] = {**event["headers"], "host": "api.example.com"}
    event["requestContext"]["domainName"] = "api.example.com"
    if event.get("version") == "2.0":
        event["rawPath"] = base_path + event["rawPath"]
        event["requestContext"]["http"]["path"] = base_path + event["requestContext"]["http"]["path"]
    else:
        event["path"] = base_path + event["path"]
        event["requestContext"]["path"] = base_path + event["path"]
    return event


def test_a_custom_domains_base_path_reaches_the_routes(
    aws_mode: AwsMode, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the path kept the mapping (`/auth/login`), no route matched and every call through a custom
    domain with a base path answered 404; `TWOSTEP_API_BASE_PATH` names the prefix to strip."""
    monkeypatch.setenv("TWOSTEP_API_BASE_PATH", "/auth/")
    login = {"email": USER["email"], "password": USER["password"]}
    status, user = call(behind_base_path(http_v2_event("POST", "/register", USER), "/auth"))
    assert status == 201, user
    status, started = call(behind_base_path(rest_event("POST", "/login", login), "/auth"))
    assert status == 200, started
    verify = {"otp": int(code_from_outbox(aws_mode))}
    status, tokens = call(behind_base_path(http_v2_event("POST", started["redirectPath"], verify), "/auth"))
    assert status == 200, tokens
    bearer = {"authorization": f"Bearer {tokens['accessToken']}"}
    status, hello = call(behind_base_path(http_v2_event("GET", "/hello", headers=bearer), "/auth"))
    assert (status, hello) == (200, {"message": "Hello, test@example.com!"})
    root = api_handler.handler(rest_event("GET", "/"), None)["statusCode"]
    assert api_handler.handler(behind_base_path(rest_event("GET", "/"), "/auth"), None)["statusCode"] == root
    assert (
        api_handler.handler(behind_base_path(http_v2_event("GET", ""), "/auth"), None)["statusCode"] == root
    )
    assert call(http_v2_event("GET", "/healthz"))[0] == 200  # the API's own URL, without the mapping
    assert call(behind_base_path(http_v2_event("GET", "x/healthz"), "/auth"))[0] == 404  # `/authx` is not it

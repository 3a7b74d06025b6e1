"""What an `Idempotency-Key` costs on DynamoDB in AWS mode (moto server): the first request adds two
conditional writes (claim, answer), a replay of a sign-in makes the refused claim and one read of the
record, then the requests of a sign-in's password check (its attempt counted, the account found, its
counts settled: a replay is limited like a sign-in) and no other storage or SMS work at all."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from tests.aws.conftest import AwsMode
from tests.aws.test_aws_adapters import CallCounter
from tests.aws.test_request_counts import PHONE, USER, _is_outbox
from twostep.api.app import create_app
from twostep.container import build
from twostep.settings import Settings

pytestmark = pytest.mark.aws
LOGIN = {"email": USER["email"], "password": USER["password"]}


def _idempotency_calls(calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
    def on_record(params: dict[str, Any]) -> bool:
        key = params.get("Item") or params.get("Key") or {}
        return str(key.get("PK", {}).get("S", "")).startswith("IDEMPOTENCY#")

    return [name for name, params in calls if on_record(params)]


def test_dynamodb_requests_of_a_keyed_login_and_its_replay(
    aws_mode: AwsMode, capsys: pytest.CaptureFixture[str]
) -> None:
    session = boto3.session.Session(region_name="us-east-1")
    dynamodb = CallCounter(session, "dynamodb")
    container = build(Settings(), boto_session=session)
    headers = {"Idempotency-Key": "count-1"}
    try:
        with TestClient(create_app(container)) as client:
            assert client.post("/register", json=USER).status_code == 201
            start = len(dynamodb.calls)
            first = client.post("/login", json=LOGIN, headers=headers)
            assert first.status_code == 200, first.text
            first_calls = dynamodb.calls[start:]
            start = len(dynamodb.calls)
            replayed = client.post("/login", json=LOGIN, headers=headers)
            replay_calls = [call for call in dynamodb.calls[start:] if not _is_outbox(call[1])]
        assert replayed.json() == first.json()
        assert len(container.storage.list_outbox(to=PHONE, last=10)) == 1
    finally:
        container.close()
    replay = [name for name, _ in replay_calls]
    with capsys.disabled():
        print(
            f"\nDynamoDB for Idempotency-Key: the first login adds {_idempotency_calls(first_calls)}; a replay {replay}"
        )
    assert _idempotency_calls(first_calls) == ["PutItem", "UpdateItem"]
    # the claim, the record, then the password's check: counted, the account by its email, settled
    assert replay[:2] == ["PutItem", "GetItem"]
    assert replay[2:] == ["TransactWriteItems", "GetItem", "GetItem", "GetItem", "TransactWriteItems"]

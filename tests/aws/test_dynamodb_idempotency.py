"""A transaction retried after a lost answer is not applied twice: each call carries one idempotency token.

DynamoDB applies a TransactWriteItems whose ClientRequestToken it has seen in the last 10 minutes only
once, and answers a repeat with the first outcome. botocore fills the token in once per call (the member
is marked `idempotencyToken` in the service model) and its retries (`CLIENT_CONFIG`: standard mode, up
to 3 retries) resend the same request. This test holds the client twostep builds to that: a first attempt
answered with a server error (as when the answer to an applied write is lost) is retried with the token
it was sent with, over HTTP against moto's server.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from tests.contract.helpers import make_user
from twostep.storage.dynamodb import DynamoDbStorage
from twostep.storage.dynamodb_client import CLIENT_CONFIG

pytestmark = pytest.mark.aws


class _LostAnswer:
    """The body of the server error the first attempt gets instead of DynamoDB's answer."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield b'{"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "answer lost"}'


def test_a_retried_transaction_is_sent_with_its_first_token(
    moto_server: str, aws_test_environment: dict[str, str]
) -> None:
    client = boto3.client("dynamodb", endpoint_url=moto_server, config=CLIENT_CONFIG)
    storage = DynamoDbStorage(client, f"twostep-{uuid.uuid4().hex[:8]}")
    storage.init_schema()
    tokens: list[str] = []

    def lose_the_first_answer(request: Any, **_: Any) -> AWSResponse | None:
        tokens.append(json.loads(request.body)["ClientRequestToken"])
        if len(tokens) == 1:
            return AWSResponse(request.url, 500, {}, _LostAnswer())
        return None  # sent to the server

    client.meta.events.register("before-send.dynamodb.TransactWriteItems", lose_the_first_answer)
    user = make_user()
    storage.add_user(user)  # one transaction: the user and its email's uniqueness item

    assert len(tokens) == 2, "the server error was not retried"
    assert tokens[0] == tokens[1] and len(tokens[0]) == 36
    assert storage.get_user(user.id) == user
    # A new call is a new write: a new token (a repeat within 10 minutes would be taken for the first).
    storage.add_user(make_user(email="other@example.com", phone=None))
    assert len(tokens) == 3 and tokens[2] != tokens[0]

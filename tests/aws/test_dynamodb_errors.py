"""DynamoDB error answers mapped to domain errors, with botocore's Stubber standing in for the service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.contract.helpers import NOW, make_challenge, make_user
from twostep.domain.errors import AccountExists, StorageUnavailable
from twostep.storage.dynamodb import DynamoDbStorage

pytestmark = pytest.mark.aws


@pytest.fixture
def stubbed() -> Iterator[tuple[DynamoDbStorage, Stubber]]:
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield DynamoDbStorage(client, "twostep"), stubber
        stubber.assert_no_pending_responses()


def _cancelled(*codes: str) -> dict[str, Any]:
    return {"CancellationReasons": [{"Code": code} for code in codes]}


def test_throttling_after_retries_is_storage_unavailable(stubbed: tuple[DynamoDbStorage, Stubber]) -> None:
    storage, stubber = stubbed
    stubber.add_client_error("get_item", "ProvisionedThroughputExceededException", http_status_code=400)
    stubber.add_client_error("put_item", "ThrottlingException", http_status_code=400)
    with pytest.raises(StorageUnavailable):
        storage.get_user("u")
    with pytest.raises(StorageUnavailable):
        storage.put_challenge(make_challenge())


def test_condition_failure_in_a_transaction_is_account_exists(
    stubbed: tuple[DynamoDbStorage, Stubber],
) -> None:
    storage, stubber = stubbed
    stubber.add_client_error(
        "transact_write_items",
        "TransactionCanceledException",
        response_meta=None,
        modeled_fields=_cancelled("None", "ConditionalCheckFailed", "None"),
    )
    with pytest.raises(AccountExists):
        storage.add_user(make_user())


def test_transaction_conflicts_are_retried(stubbed: tuple[DynamoDbStorage, Stubber]) -> None:
    storage, stubber = stubbed
    for _ in range(2):
        stubber.add_client_error(
            "transact_write_items",
            "TransactionCanceledException",
            modeled_fields=_cancelled("TransactionConflict", "None", "None"),
        )
    stubber.add_response("transact_write_items", {})
    storage.add_user(make_user())  # the third attempt goes through


def test_a_conflict_that_does_not_clear_is_storage_unavailable(
    stubbed: tuple[DynamoDbStorage, Stubber],
) -> None:
    storage, stubber = stubbed
    for _ in range(5):
        stubber.add_client_error(
            "transact_write_items",
            "TransactionCanceledException",
            modeled_fields=_cancelled("TransactionConflict", "None", "None"),
        )
    with pytest.raises(StorageUnavailable):
        storage.add_user(make_user())


def test_conditional_check_failure_on_an_attempt_is_a_refusal(
    stubbed: tuple[DynamoDbStorage, Stubber],
) -> None:
    storage, stubber = stubbed
    stubber.add_client_error("update_item", "ConditionalCheckFailedException")
    assert storage.count_attempt("c-1", NOW) is None

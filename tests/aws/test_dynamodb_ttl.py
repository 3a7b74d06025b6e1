"""DynamoDB's TTL is turned on by every start until it was once seen on, and by every migrate.

Before, only the start that created the table asked for TTL, after the table-exists waiter: a first start
interrupted there (a slow table, a throttled or refused UpdateTimeToLive) left TTL off for good, since
later starts and `twostep storage migrate` did nothing once the table existed, and nothing with a TTL
(codes, sessions, counters, revocations, ...) was ever deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, WaiterError
from botocore.stub import Stubber

from twostep.domain.errors import StorageUnavailable
from twostep.storage.dynamodb import DynamoDbStorage
from twostep.storage.dynamodb_client import CLIENT_CONFIG, DynamoCalls
from twostep.storage.dynamodb_schema import ensure_time_to_live

pytestmark = pytest.mark.aws


def _client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=CLIENT_CONFIG,
    )


def _ttl_status(client: Any, table: str) -> str:
    return str(client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]["TimeToLiveStatus"])


def _calls_of(client: Any, operation: str) -> list[str]:
    seen: list[str] = []
    client.meta.events.register(
        f"provide-client-params.dynamodb.{operation}", lambda **_: seen.append(operation)
    )
    return seen


@pytest.fixture
def table() -> str:
    return f"ttl-{uuid.uuid4().hex[:10]}"


class _TimedOutWaiter:
    def wait(self, **_: Any) -> None:
        raise WaiterError("TableExists", "Max attempts exceeded", {})


def test_a_start_after_a_timed_out_first_start_turns_ttl_on(
    moto_server: str, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _client(moto_server)
    real_get_waiter = client.get_waiter
    monkeypatch.setattr(client, "get_waiter", lambda name: _TimedOutWaiter())
    with pytest.raises(StorageUnavailable):
        DynamoDbStorage(client, table).init_schema()
    assert _ttl_status(client, table) == "DISABLED"
    monkeypatch.setattr(client, "get_waiter", real_get_waiter)

    DynamoDbStorage(client, table).init_schema()
    assert _ttl_status(client, table) == "ENABLED"


def test_a_throttled_update_time_to_live_is_repeated_by_the_next_start(
    moto_server: str, table: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = _client(moto_server)

    def throttled(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "ThrottlingException"}}, "UpdateTimeToLive")

    monkeypatch.setattr(client, "update_time_to_live", throttled)
    with pytest.raises(StorageUnavailable):
        DynamoDbStorage(client, table).init_schema()
    monkeypatch.undo()
    assert _ttl_status(client, table) == "DISABLED"
    DynamoDbStorage(client, table).init_schema()
    assert _ttl_status(client, table) == "ENABLED"


def test_a_later_start_whose_enable_fails_goes_on_and_the_next_one_turns_ttl_on(
    moto_server: str, table: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The table works without TTL; a start is not refused for it (migrate is, see below)."""
    client = _client(moto_server)
    monkeypatch.setattr(client, "get_waiter", lambda name: _TimedOutWaiter())
    with pytest.raises(StorageUnavailable):
        DynamoDbStorage(client, table).init_schema()
    monkeypatch.undo()

    def refused(**_: Any) -> None:
        raise ClientError({"Error": {"Code": "AccessDeniedException"}}, "UpdateTimeToLive")

    monkeypatch.setattr(client, "update_time_to_live", refused)
    DynamoDbStorage(client, table).init_schema()  # goes on, with a warning
    assert "TTL is still off" in caplog.text
    with pytest.raises(StorageUnavailable):
        DynamoDbStorage(client, table).migrate()
    monkeypatch.undo()
    DynamoDbStorage(client, table).init_schema()
    assert _ttl_status(client, table) == "ENABLED"


def test_once_seen_on_a_start_asks_no_more_and_migrate_checks_again(moto_server: str, table: str) -> None:
    client = _client(moto_server)
    DynamoDbStorage(client, table).init_schema()
    described = _calls_of(client, "DescribeTimeToLive")
    DynamoDbStorage(client, table).init_schema()
    assert described == []  # a start reads the marker item, not the control plane
    client.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": False, "AttributeName": "ttl"}
    )
    DynamoDbStorage(client, table).migrate()  # the operator's command checks whatever the marker says
    assert described and _ttl_status(client, table) == "ENABLED"


@pytest.fixture
def stubbed() -> Iterator[tuple[DynamoCalls, Stubber]]:
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield DynamoCalls(client), stubber
        stubber.assert_no_pending_responses()


def _described(status: str) -> dict[str, Any]:
    return {"TimeToLiveDescription": {"TimeToLiveStatus": status, "AttributeName": "ttl"}}


@pytest.mark.parametrize("status", ["ENABLED", "ENABLING"])
def test_ttl_on_or_turning_on_is_left_alone(stubbed: tuple[DynamoCalls, Stubber], status: str) -> None:
    calls, stubber = stubbed
    stubber.add_response("describe_time_to_live", _described(status))
    stubber.add_response("put_item", {})  # the marker; no UpdateTimeToLive
    ensure_time_to_live(calls, "twostep")


def test_a_repeated_enable_refused_by_dynamodb_is_fine_once_ttl_reads_on(
    stubbed: tuple[DynamoCalls, Stubber],
) -> None:
    """Two processes saw TTL off; real DynamoDB refuses the second enable (moto accepts it)."""
    calls, stubber = stubbed
    stubber.add_response("describe_time_to_live", _described("DISABLED"))
    stubber.add_client_error("update_time_to_live", "ValidationException", "TimeToLive is already enabled")
    stubber.add_response("describe_time_to_live", _described("ENABLING"))
    stubber.add_response("put_item", {})
    ensure_time_to_live(calls, "twostep")


def test_an_enable_that_fails_leaves_the_table_unmarked(stubbed: tuple[DynamoCalls, Stubber]) -> None:
    calls, stubber = stubbed
    stubber.add_response("describe_time_to_live", _described("DISABLED"))
    stubber.add_client_error("update_time_to_live", "LimitExceededException")
    stubber.add_response("describe_time_to_live", _described("DISABLED"))
    with pytest.raises(StorageUnavailable):
        ensure_time_to_live(calls, "twostep")  # no put_item: the next start tries again


def test_a_role_that_may_not_describe_ttl_starts_without_marking(
    stubbed: tuple[DynamoCalls, Stubber],
) -> None:
    calls, stubber = stubbed
    stubber.add_client_error("describe_time_to_live", "AccessDeniedException", http_status_code=400)
    ensure_time_to_live(calls, "twostep")

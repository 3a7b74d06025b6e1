"""DynamoDB only: a page of an account's sessions (`GET /sessions`) reads about a page of items, not every
session of the account. Before, the session items (keyed by id, not time) were all read for each page:
3,000 sessions read 3,000 items to answer 100. Sessions stored by older versions, without their pointer
by start, are still listed and paged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.contract.helpers import NOW, moto_table
from tests.contract.test_sessions import started
from twostep.storage.dynamodb import DynamoDbStorage

SESSIONS = 30
LIMIT = 4


@pytest.fixture
def table(moto_server: str) -> Iterator[tuple[DynamoDbStorage, Any, str]]:
    storage, client = moto_table(moto_server, "session-pages")
    yield storage, client, storage._table
    storage.close()


def _items_read(storage: DynamoDbStorage, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the items each Query or BatchGetItem answers."""
    counts: list[int] = []
    call = storage._calls.call

    def counting(operation: str, **kwargs: Any) -> Any:
        answer = call(operation, **kwargs)
        if operation == "query":
            counts.append(len(answer.get("Items", [])))
        elif operation == "batch_get_item":
            counts.append(sum(len(items) for items in answer.get("Responses", {}).values()))
        return answer

    monkeypatch.setattr(storage._calls, "call", counting)
    return counts


def _all_pages(storage: DynamoDbStorage) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = storage.page_sessions("user-1", NOW, LIMIT, cursor)
        pages.append([s.id for s in page.items])
        if (cursor := page.next_cursor) is None:
            return pages


def test_a_page_reads_about_a_page(
    table: tuple[DynamoDbStorage, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = table[0]
    for second in range(SESSIONS):
        started(storage, created_at=NOW + timedelta(seconds=second))
    storage.page_sessions("user-1", NOW, LIMIT)  # an account's first page may mark it (once)
    counts = _items_read(storage, monkeypatch)
    first = storage.page_sessions("user-1", NOW, LIMIT)
    assert len(first.items) == LIMIT and first.next_cursor
    assert sum(counts) <= 2 * (LIMIT + 2), counts
    counts.clear()
    storage.page_sessions("user-1", NOW, LIMIT, first.next_cursor)
    assert sum(counts) <= 2 * (LIMIT + 2), counts


def test_sessions_stored_before_the_pointers_are_still_paged(table: tuple[DynamoDbStorage, Any, str]) -> None:
    storage, client, name = table
    sessions = [started(storage, created_at=NOW + timedelta(seconds=s)) for s in range(10)]
    ended = sessions.pop(3)
    storage.revoke_family(ended.id, NOW)
    for item in client.query(
        TableName=name,
        KeyConditionExpression="PK = :p AND begins_with(SK, :s)",
        ExpressionAttributeValues={":p": {"S": "USER#user-1"}, ":s": {"S": "SESSIONAT"}},
    )["Items"]:
        client.delete_item(TableName=name, Key={"PK": item["PK"], "SK": item["SK"]})  # as an older version
    newest_first = [s.id for s in reversed(sessions)]
    assert [i for page in _all_pages(storage) for i in page] == newest_first
    newer = started(storage, created_at=NOW + timedelta(minutes=1))
    assert [i for page in _all_pages(storage) for i in page] == [newer.id, *newest_first]


def test_a_pointer_left_by_an_ended_session_leaves_no_page_short(
    table: tuple[DynamoDbStorage, Any, str],
) -> None:
    """A session ended while its pointer stays (ended by an older version, or the pointer's delete failed)
    is skipped, and the page is filled from the next pointers."""
    storage, client, name = table
    sessions = [started(storage, created_at=NOW + timedelta(seconds=s)) for s in range(7)]
    for ended in sessions[4:6]:
        client.update_item(
            TableName=name,
            Key={"PK": {"S": "USER#user-1"}, "SK": {"S": f"SESSION#{ended.id}"}},
            UpdateExpression="SET revoked_at = :t",
            ExpressionAttributeValues={":t": {"N": str(NOW.timestamp())}},
        )
    live = [s.id for s in reversed(sessions) if s not in sessions[4:6]]
    assert _all_pages(storage) == [live[:LIMIT], live[LIMIT:]]

"""DynamoDB only: messages stored before messages had their per-author index key (`MSGBY#<user>`) are
found by account deletion once `twostep storage migrate` has run."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from tests.contract.helpers import NOW, moto_table
from twostep.domain.models import Message
from twostep.storage import dynamodb_codec as codec
from twostep.storage.dynamodb import DynamoDbStorage
from twostep.storage.dynamodb_client import serialize


@pytest.fixture
def table(moto_server: str) -> tuple[DynamoDbStorage, str, Any]:
    storage, client = moto_table(moto_server, "message-index")
    return storage, storage._table, client


def store_as_before_the_index(client: Any, table: str, message: Message) -> None:
    """The item an older version wrote: the message without its GSI1 keys."""
    item = {k: v for k, v in codec.message_item(message).items() if not k.startswith("GSI1")}
    client.put_item(TableName=table, Item=serialize(item))


def test_older_messages_are_anonymised_after_migrate(table: tuple[DynamoDbStorage, str, Any]) -> None:
    storage, name, client = table
    old = Message("m-old", "user-1", "me@example.com", "from before", NOW)
    also_old = Message("m-old-2", "user-2", "you@example.com", "someone else's", NOW + timedelta(seconds=1))
    for message in (old, also_old):
        store_as_before_the_index(client, name, message)
    new = Message("m-new", "user-1", "me@example.com", "from now", NOW + timedelta(seconds=2))
    storage.add_message(new)
    assert storage.anonymise_messages("user-1", "Deleted account", "deleted-x") == 1  # the gap: new only

    assert storage.migrate() == []
    assert storage.anonymise_messages("user-1", "Deleted account", "deleted-y") == 1  # the older one now

    listed = {m.id: m for m in storage.list_messages(10).items}
    assert listed["m-old"] == replace(old, user_id="deleted-y", author="Deleted account")
    assert listed["m-old-2"] == also_old  # indexed under its own author, untouched
    assert listed["m-new"] == replace(new, user_id="deleted-x", author="Deleted account")
    assert storage.anonymise_messages("user-2", "Deleted account", "deleted-z") == 1


def test_the_backfill_runs_once(table: tuple[DynamoDbStorage, str, Any]) -> None:
    storage, name, client = table
    store_as_before_the_index(client, name, Message("m1", "user-1", "me@example.com", "hi", NOW))

    assert storage.index_older_messages() == 1
    store_as_before_the_index(client, name, Message("m2", "user-1", "me@example.com", "late", NOW))
    assert storage.index_older_messages() == 0  # the marker: a later migrate reads no messages

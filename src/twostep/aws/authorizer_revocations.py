"""The authorizer's copy of the revocation list, read from the configured storage only when needed.

Each storage has a reader that imports only its driver (sqlite3; for DynamoDB on AWS a signed request of
its own, `signed_calls`, or boto3 where that cannot be used) and none of the storage adapters, settings
or pydantic. With `memory` storage there is no store another process could share, so there is nothing to
read (the list stays empty; a warning says so once).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from twostep.aws.authorizer_settings import AuthorizerSettings
from twostep.domain.clock import Clock
from twostep.domain.cold_start_typing import TYPE_CHECKING
from twostep.domain.revocation import Revocation, RevocationList, RevocationSource

if TYPE_CHECKING:
    from typing import Any

    from twostep.aws.signed_calls import SignedClient


class NothingShared:
    """`memory` storage: no other process's sign-outs can be seen."""

    def list_revocations(self, since: datetime) -> list[Revocation]:
        return []


class SignedRevocationReader:
    """The list over signed requests of its own, so a cold start imports no boto3.

    When a read fails (or answers something unreadable) it hands over to boto3's reader for good: boto3
    retries on its own, and an outage then fails closed as it always has (StorageUnavailable).
    """

    def __init__(
        self, client: SignedClient, table: str, boto3_reader: Callable[[], RevocationSource]
    ) -> None:
        self._client, self._table = client, table
        self._boto3_reader = boto3_reader
        self._fallback: RevocationSource | None = None

    def list_revocations(self, since: datetime) -> list[Revocation]:
        if self._fallback is None:
            from twostep.aws.signed_calls import AwsCallFailed
            from twostep.storage.dynamodb_revocation_query import read_revocations_with

            try:
                return read_revocations_with(
                    lambda query: self._client.call("Query", query), self._table, since
                )
            except (AwsCallFailed, KeyError, TypeError, ValueError) as exc:
                import logging

                logging.getLogger("twostep.authorizer").warning(
                    "revocation list read through boto3 from now on: %s", exc
                )
                self._fallback = self._boto3_reader()
        return self._fallback.list_revocations(since)


def boto3_revocation_reader(table: str, boto_session: Any = None) -> RevocationSource:
    import boto3

    from twostep.storage.dynamodb_client import CLIENT_CONFIG
    from twostep.storage.dynamodb_revocations import DynamoRevocationReader

    session = boto_session or boto3.session.Session()
    return DynamoRevocationReader(session.client("dynamodb", config=CLIENT_CONFIG), table)


def revocation_source(settings: AuthorizerSettings, *, boto_session: Any = None) -> RevocationSource:
    if settings.storage == "dynamodb":
        from twostep.aws.signed_calls import DYNAMODB, signed_client

        table = settings.dynamodb_table
        client = None if boto_session is not None else signed_client(DYNAMODB)
        if client is None:
            return boto3_revocation_reader(table, boto_session)
        return SignedRevocationReader(client, table, lambda: boto3_revocation_reader(table))
    if settings.storage == "sqlite":
        from twostep.storage.sqlite_revocations import SqliteRevocationReader

        return SqliteRevocationReader(settings.sqlite_path)
    import logging

    logging.getLogger("twostep.authorizer").warning(
        "memory storage: the authorizer cannot see sessions ended in other processes"
    )
    return NothingShared()


def authorizer_revocations(settings: AuthorizerSettings, clock: Clock) -> RevocationList:
    """Refreshed every `TWOSTEP_AUTHORIZER_REVOCATION_TTL_SECONDS`; unreadable past that: closed."""
    ttl = timedelta(seconds=settings.authorizer_revocation_ttl_seconds)
    return RevocationList(
        revocation_source(settings),
        clock,
        refresh_every=ttl,
        max_age=ttl,
        window=timedelta(seconds=settings.revocation_window_seconds),
    )

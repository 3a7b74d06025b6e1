"""The authorizer's copy of the revocation list, read from the configured storage only when needed.

Each storage has a reader that imports only its driver (sqlite3, or boto3 for DynamoDB on AWS) and
none of the storage adapters, settings or pydantic. With `memory` storage there is no store another
process could share, so there is nothing to read (the list stays empty; a warning says so once).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from twostep.aws.authorizer_settings import AuthorizerSettings
from twostep.domain.clock import Clock
from twostep.domain.revocation import Revocation, RevocationList, RevocationSource


class NothingShared:
    """`memory` storage: no other process's sign-outs can be seen."""

    def list_revocations(self, since: datetime) -> list[Revocation]:
        return []


def revocation_source(settings: AuthorizerSettings, *, boto_session: Any = None) -> RevocationSource:
    if settings.storage == "dynamodb":
        import boto3

        from twostep.storage.dynamodb_client import CLIENT_CONFIG
        from twostep.storage.dynamodb_revocations import DynamoRevocationReader

        session = boto_session or boto3.session.Session()
        return DynamoRevocationReader(
            session.client("dynamodb", config=CLIENT_CONFIG), settings.dynamodb_table
        )
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

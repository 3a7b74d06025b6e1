"""The storage conformance suite runs against every adapter: one fixture entry per backend."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from twostep.domain.ports import Storage
from twostep.storage.memory import MemoryStorage
from twostep.storage.sqlite import SqliteStorage


def _memory(_: Path, __: pytest.FixtureRequest) -> Storage:
    return MemoryStorage()


def _sqlite(tmp_path: Path, _: pytest.FixtureRequest) -> Storage:
    return SqliteStorage(tmp_path / "conformance.db")


def _dynamodb(_: Path, request: pytest.FixtureRequest) -> Storage:
    """A fresh table per test on the session's moto server, reached over HTTP."""
    import boto3
    from botocore.config import Config

    from twostep.storage.dynamodb import DynamoDbStorage
    from twostep.storage.dynamodb_client import CLIENT_CONFIG

    endpoint = request.getfixturevalue("moto_server")
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        # The race tests send 50 requests at once to one moto process; on a loaded machine some wait
        # longer than production's read timeout, which would fail a test of atomicity, not of latency.
        config=CLIENT_CONFIG.merge(Config(read_timeout=30)),
    )
    return DynamoDbStorage(client, f"conformance-{uuid.uuid4().hex[:12]}")


def _postgres(_: Path, request: pytest.FixtureRequest) -> Storage:
    """A fresh database per test on the session's PostgreSQL server (tests/postgres_server.py)."""
    from twostep.storage.postgres import PostgresStorage

    return PostgresStorage(request.getfixturevalue("postgres_url"), pool_size=20)


# name -> factory(tmp_path, request); backends that need a server add their entry here.
BACKENDS: dict[str, Callable[[Path, pytest.FixtureRequest], Storage]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "dynamodb": _dynamodb,
    "postgres": _postgres,
}


@pytest.fixture(params=sorted(BACKENDS))
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    backend = BACKENDS[request.param](tmp_path, request)
    backend.init_schema()
    yield backend
    backend.close()

"""`storage`: a PostgreSQL storage on a fresh schema of the session's server (tests/postgres_server.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from twostep.storage.postgres import PostgresStorage


@pytest.fixture
def storage(postgres_url: str) -> Iterator[PostgresStorage]:
    store = PostgresStorage(postgres_url, pool_size=2)
    store.init_schema()
    try:
        yield store
    finally:
        store.close()

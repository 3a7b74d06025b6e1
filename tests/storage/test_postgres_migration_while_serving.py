"""A running process's pooled PostgreSQL connections while another process migrates the schema (the
rolling upgrade docs/operations.md describes: `twostep storage migrate`, then restart the servers one by
one). Real PostgreSQL; private helpers on purpose, as the connection layer's own promise."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.contract.helpers import make_challenge, make_user
from twostep.storage.postgres import PostgresStorage


@pytest.fixture
def storage(postgres_url: str) -> Iterator[PostgresStorage]:
    opened = PostgresStorage(postgres_url, pool_size=1)  # one connection: every statement meets it
    opened.init_schema()
    try:
        yield opened
    finally:
        opened.close()


def another_release_adds_columns(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as other:
        other.execute("ALTER TABLE users ADD COLUMN IF NOT EXISTS next_release text")
        other.execute("ALTER TABLE challenges ADD COLUMN IF NOT EXISTS next_release text")


def test_statements_prepared_before_another_process_adds_a_column_still_run(
    storage: PostgresStorage, postgres_url: str
) -> None:
    """Before, once `twostep storage migrate` (or a newer server's start) added a column, every statement
    a running server had prepared that reads the table whole (`SELECT *`: a sign-in's challenge, the
    account, a refresh token) failed with "cached plan must not change result type": 503 on every
    request those connections served, until the servers restarted. Such a statement is now prepared
    again and run."""
    user = make_user()
    storage.add_user(user)
    challenge = make_challenge(subject=user.id)
    storage.put_challenge(challenge)
    assert storage.get_challenge_with_account(challenge.id) == (challenge, user)  # prepared now
    assert storage.get_user(user.id) == user

    another_release_adds_columns(postgres_url)

    assert storage.get_user(user.id) == user
    assert storage.get_challenge_with_account(challenge.id) == (challenge, user)
    assert storage.get_challenge(challenge.id) == challenge

"""The PostgreSQL connection layer's choices that the conformance suite cannot see: which pooled
connection a statement gets, statements prepared on first use, a kept cursor that survives a
failed statement, and `%s` placeholders turned into PostgreSQL's `$n` once per statement text. Real PostgreSQL (the `postgres_url` fixture); private helpers on purpose, as these
are the layer's own promises, not the storage port's."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from tests.postgres_server import PostgresServer
from twostep.domain.errors import ConfigurationError, StorageUnavailable
from twostep.storage.postgres_connection import PostgresConnections, describe
from twostep.storage.postgres_pooled import numbered

BACKEND = "SELECT pg_backend_pid() AS pid"


@pytest.fixture
def connections(postgres_url: str) -> Iterator[PostgresConnections]:
    pool = PostgresConnections(postgres_url, pool_size=3, timeout_seconds=10)
    try:
        yield pool
    finally:
        pool.close()


def _backend(connections: PostgresConnections) -> int:
    row = connections._one(BACKEND)
    assert row is not None
    return int(row["pid"])


def test_one_thread_s_statements_keep_to_the_connection_returned_last(
    connections: PostgresConnections,
) -> None:
    # Three connections open at once, so the pool holds three idle ones afterwards.
    with connections._guard() as first, connections._guard() as second, connections._guard() as third:
        pids = [int(connections._run(conn, BACKEND).fetchall()[0]["pid"]) for conn in (first, second, third)]
    assert len(set(pids)) == 3
    # `first` was returned last: every later statement runs there, none wakes the other two backends.
    assert {_backend(connections) for _ in range(9)} == {pids[0]}


def test_a_statement_is_prepared_on_its_first_run(connections: PostgresConnections) -> None:
    with connections._guard() as conn:
        assert connections._run(conn, "SELECT %s::int + 1 AS n", (41,)).fetchall() == [{"n": 42}]
        prepared = connections._run(
            conn,
            "SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::int + 1%%'",
        ).fetchall()
    assert prepared == [{"n": 1}]


def test_the_kept_cursor_works_after_a_failed_statement_and_a_failed_transaction(
    connections: PostgresConnections,
) -> None:
    with pytest.raises(StorageUnavailable):
        connections._one("SELECT 1 / %s AS n", (0,))
    assert connections._one("SELECT 2 AS n") == {"n": 2}
    with pytest.raises(StorageUnavailable), connections._guard() as conn, conn.transaction():
        connections._run(conn, "SELECT 1 / %s AS n", (0,))
    with connections._guard() as conn, conn.transaction():
        assert connections._run(conn, "SELECT 3 AS n").fetchall() == [{"n": 3}]
    assert connections._one("SELECT 4 AS n") == {"n": 4}


def test_placeholders_become_numbered_and_a_doubled_percent_a_literal_one() -> None:
    assert numbered("SELECT %s::int, %s WHERE a LIKE 'x%%' OR b = %s") == (
        "SELECT $1::int, $2 WHERE a LIKE 'x%' OR b = $3"
    )
    assert numbered("SELECT '%%s'") == "SELECT '%s'"
    assert numbered("SELECT 1") == "SELECT 1"
    with pytest.raises(ValueError, match="only %s"):
        numbered("SELECT %d")


def test_a_statement_with_more_parameters_than_psycopg_caches_runs(connections: PostgresConnections) -> None:
    # psycopg keeps its own conversion only up to 50 parameters; ours holds for any number.
    count = 80
    sql = "SELECT " + " + ".join(["%s::int"] * count) + " AS n"
    for _ in range(2):
        assert connections._one(sql, list(range(count))) == {"n": sum(range(count))}


def test_a_server_on_the_same_host_is_reached_over_its_unix_socket(postgres_server: PostgresServer) -> None:
    """The URL's socket form (docs/postgresql.md: about a fifth less CPU per statement than TCP on
    loopback) reaches libpq as written: the backend sees no client address (over TCP it sees 127.0.0.1)."""
    url = postgres_server.create_database()
    name = url.rsplit("/", 1)[1]
    socket_url = postgres_server.socket_url(name)
    pool = PostgresConnections(socket_url, pool_size=1, timeout_seconds=10)
    try:
        assert pool._one("SELECT inet_client_addr() IS NULL AS over_socket") == {"over_socket": True}
        # what errors name instead of the URL: the socket's directory for a host
        assert describe(socket_url) == f"{postgres_server.root}:{postgres_server.port}/{name}"
    finally:
        pool.close()
        postgres_server.drop_database(url)


def test_key_value_settings_with_an_at_sign_after_a_slash_connect(postgres_server: PostgresServer) -> None:
    """libpq's `key=value` form has no URL parts: a socket directory's `/` before a password with an `@`
    is no password split at a bare `/` (the check for that reads URLs only)."""
    url = postgres_server.create_database()
    name = url.rsplit("/", 1)[1]
    settings = (
        f"host={postgres_server.root} port={postgres_server.port} dbname={name} user=postgres password=a@b"
    )
    pool = PostgresConnections(settings, pool_size=1, timeout_seconds=10)
    try:
        assert pool._one("SELECT 1 AS one") == {"one": 1}
    finally:
        pool.close()
        postgres_server.drop_database(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres:S3cr3tPw@[::1/twostep",
        "postgresql://postgres:S3cr3tPw@h/db?nosuch=1",
        # A bare `/` (a base64 password): host `postgres`, port `S3cr3tPw`, database `x9@h/db` before.
        "postgresql://postgres:S3cr3tPw/x9@h:5432/db",
        "postgresql://postgres:2024/S3cr3tPw@h/db",  # the part before the `/` a number: a valid port
    ],
)
def test_a_url_libpq_cannot_read_stops_the_start_without_its_password(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Before, the pool started anyway and psycopg_pool logged libpq's message on every try, which quotes
    the whole URL, password included (`twostep storage migrate` wrote it to stderr unredacted); the start
    now stops with one line naming the variable and never the URL."""
    with caplog.at_level(logging.DEBUG), pytest.raises(ConfigurationError) as refused:
        PostgresConnections(url, pool_size=1, timeout_seconds=1).close()
    assert "TWOSTEP_DATABASE_URL" in str(refused.value)
    assert "S3cr3tPw" not in str(refused.value)
    assert "S3cr3tPw" not in caplog.text

"""PostgreSQL the way operators connect to it: TLS (`ssl=on`, a certificate from a test CA), password
roles (`scram-sha-256`, `md5`), a role allowed only over TLS (`hostssl`), a password with `@ : / % #`.

One server for the module (a start costs seconds). Every refusal must be a 503 whose cause names it (a
refused password, an untrusted certificate, a pg_hba.conf refusal), never the password. Before, each was
"no database connection in time (server unreachable...)" and `twostep storage migrate` ended with
"couldn't get a connection after 10.00 sec", the server up and refusing.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml

from tests.certificate_authority import CertificateAuthority
from tests.live import ServerProcess, free_port, run_cli, server_env
from tests.postgres_server import PostgresServer, own_postgres_server
from twostep.api.causes import describe_cause
from twostep.domain.errors import StorageUnavailable
from twostep.storage.postgres import PostgresStorage
from twostep.storage.postgres_connection import describe

PASSWORD = "p@ss:w/rd%#1"  # every character a URL must %-encode
ENCODED = "p%40ss%3Aw%2Frd%25%231"
MD5_PASSWORD = "md5-role-password"
HBA = """\
local all postgres trust
local all md5_role md5
hostssl all tls_only 127.0.0.1/32 scram-sha-256
host all md5_role 127.0.0.1/32 md5
host all twostep 127.0.0.1/32 scram-sha-256
host all postgres 127.0.0.1/32 trust
"""
SECRETS = (PASSWORD, ENCODED, MD5_PASSWORD, "wrong-password")


def _enable_tls(server: PostgresServer) -> None:
    """The server's certificate names `localhost`, signed by `ca.pem`; `other-ca.pem` signed nothing."""
    CertificateAuthority(server.root, "another CA", "other-ca.pem")
    issued = CertificateAuthority(server.root, "twostep test CA").issue(
        "localhost", certificate="server.crt", key="server.key"
    )
    if os.geteuid() == 0:  # the server then runs as `postgres`, which must own its key
        for path in (issued.certificate, issued.key):
            shutil.chown(path, "postgres", "postgres")


@pytest.fixture(scope="module")
def tls_server() -> Iterator[PostgresServer]:
    with own_postgres_server() as server:
        _enable_tls(server)
        with psycopg.connect(server.url(), autocommit=True) as conn:
            conn.execute(f"CREATE ROLE tls_only LOGIN PASSWORD '{PASSWORD}'")  # scram-sha-256, the default
            conn.execute("SET password_encryption = 'md5'")
            conn.execute(f"CREATE ROLE md5_role LOGIN PASSWORD '{MD5_PASSWORD}'")
            for role in ("tls_only", "md5_role"):
                conn.execute(f"CREATE DATABASE {role} OWNER {role}")
            conn.execute("ALTER SYSTEM SET ssl = on")
            conn.execute(f"ALTER SYSTEM SET ssl_cert_file = '{server.root / 'server.crt'}'")
            conn.execute(f"ALTER SYSTEM SET ssl_key_file = '{server.root / 'server.key'}'")
            (server.data / "pg_hba.conf").write_text(HBA)
            conn.execute("SELECT pg_reload_conf()")
        yield server


def tls_url(server: PostgresServer, host: str = "localhost", **parameters: str) -> str:
    query = "&".join(f"{name}={value}" for name, value in parameters.items())
    return f"postgresql://tls_only:{ENCODED}@{host}:{server.port}/tls_only?{query}"


def _refused_cause(url: str, caplog: pytest.LogCaptureFixture) -> str:
    storage = PostgresStorage(url, pool_size=1, timeout_seconds=1)
    try:
        with caplog.at_level(logging.DEBUG), pytest.raises(StorageUnavailable) as refused:
            storage.ping()
    finally:
        storage.close()
    told = f"{refused.value!s} {refused.value.__cause__!s} {caplog.text}"
    assert not any(secret in told for secret in SECRETS)
    return describe_cause(refused.value)


def test_tls_and_password_roles_serve_the_storage(tls_server: PostgresServer) -> None:
    """sslmode require / verify-ca / verify-full with the right CA, a scram role whose password needs
    %-encoding, an md5 role behind a `postgres://` URL: each migrates and runs its statements."""
    root = tls_server.root
    over_tls = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
    for url, tls in [
        (tls_url(tls_server, "127.0.0.1", sslmode="require"), True),
        (tls_url(tls_server, "127.0.0.1", sslmode="verify-ca", sslrootcert=f"{root}/ca.pem"), True),
        (
            tls_url(
                tls_server, sslmode="verify-full", sslrootcert=f"{root}/ca.pem", channel_binding="require"
            ),
            True,
        ),
        (f"postgres://md5_role:{MD5_PASSWORD}@127.0.0.1:{tls_server.port}/md5_role?sslmode=disable", False),
    ]:
        storage = PostgresStorage(url, pool_size=1, timeout_seconds=5)
        try:
            storage.init_schema()
            assert storage.ping() is None
            assert storage._one(over_tls) == {"ssl": tls}
        finally:
            storage.close()


@pytest.mark.parametrize(
    ("case", "cause"),
    [
        ("wrong CA", "TLS: the server's certificate is not signed by a trusted CA (sslrootcert)"),
        ("wrong host name", "TLS: the server's certificate does not name the host connected to"),
        ("no TLS, hostssl only", "refused by the server's pg_hba.conf"),
        ("wrong md5 password", "password authentication failed"),
        ("wrong scram password", "password authentication failed"),
    ],
)
def test_a_refused_connection_is_a_503_naming_why(
    tls_server: PostgresServer, case: str, cause: str, caplog: pytest.LogCaptureFixture
) -> None:
    root, port = tls_server.root, tls_server.port
    url = {
        "wrong CA": tls_url(tls_server, sslmode="verify-ca", sslrootcert=f"{root}/other-ca.pem"),
        "wrong host name": tls_url(
            tls_server, "127.0.0.1", sslmode="verify-full", sslrootcert=f"{root}/ca.pem"
        ),
        "no TLS, hostssl only": tls_url(tls_server, "127.0.0.1", sslmode="disable"),
        "wrong md5 password": f"postgresql://md5_role:wrong-password@127.0.0.1:{port}/md5_role",
        "wrong scram password": f"postgresql://tls_only:wrong-password@127.0.0.1:{port}/tls_only?sslmode=require",
    }[case]
    assert _refused_cause(url, caplog).startswith(cause)


def test_migrate_refused_by_the_certificate_says_why_in_its_last_line(
    tls_server: PostgresServer, tmp_path: Path
) -> None:
    url = tls_url(tls_server, "127.0.0.1", sslmode="verify-full", sslrootcert=f"{tls_server.root}/ca.pem")
    env = server_env(
        tmp_path, TWOSTEP_STORAGE="postgres", TWOSTEP_DATABASE_URL=url, TWOSTEP_DATABASE_TIMEOUT_SECONDS="1"
    )
    done = run_cli(env, "storage", "migrate")
    assert done.returncode == 4, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"twostep: Cannot use the PostgreSQL database 127.0.0.1:{tls_server.port}/tls_only: "
    )
    assert 'does not match host name "127.0.0.1"' in last
    assert not any(secret in done.stdout + done.stderr for secret in SECRETS)


def test_served_over_verify_full_then_a_rotated_password_is_named_by_readiness(
    tls_server: PostgresServer, tmp_path: Path
) -> None:
    """A sign-up and a password step over TLS; then the role's password changes on the server (rotated
    before twostep's secret) and its connections end: readiness answers 503 naming the refusal."""
    url = tls_url(tls_server, sslmode="verify-full", sslrootcert=f"{tls_server.root}/ca.pem")
    env = server_env(
        tmp_path, TWOSTEP_STORAGE="postgres", TWOSTEP_DATABASE_URL=url, TWOSTEP_DATABASE_TIMEOUT_SECONDS="2"
    )
    with ServerProcess(tmp_path, env=env) as server:
        base = server.base_url
        account = {
            "firstName": "A",
            "lastName": "B",
            "email": "tls@example.com",
            "password": "correct horse battery staple",
            "phoneNumber": "+14155550123",
        }
        assert httpx.post(f"{base}/register", json=account, timeout=30).status_code == 201
        login = {"email": "tls@example.com", "password": "correct horse battery staple"}
        assert httpx.post(f"{base}/login", json=login, timeout=30).status_code == 200
        assert httpx.get(f"{base}/healthz/ready", timeout=30).status_code == 200
        with psycopg.connect(tls_server.url(), autocommit=True) as conn:
            conn.execute("ALTER ROLE tls_only PASSWORD 'rotated-elsewhere'")
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'tls_only'")
        try:
            answer = _refused_readiness(base)
        finally:
            with psycopg.connect(tls_server.url(), autocommit=True) as conn:
                conn.execute(f"ALTER ROLE tls_only PASSWORD '{PASSWORD}'")
        log = server.log_path.read_text()
    assert (answer.status_code, answer.json()["cause"]) == (503, "password authentication failed")
    assert '"cause": "password authentication failed"' in log
    assert not any(secret in log + answer.text for secret in SECRETS)


def _refused_readiness(base: str) -> httpx.Response:
    """Readiness once it names a refused password, or its last answer after a while: a verdict is kept
    for a second, and a request may find the pool's first try still under way."""
    deadline = time.monotonic() + 20
    while True:
        answer = httpx.get(f"{base}/healthz/ready", timeout=30)
        named = answer.status_code == 503 and answer.json().get("cause") == "password authentication failed"
        if named or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_a_pool_all_busy_is_named_so_not_a_refusal(tls_server: PostgresServer) -> None:
    """No connection in time while every try to connect worked: the wait is the cause."""
    storage = PostgresStorage(tls_url(tls_server, sslmode="require"), pool_size=1, timeout_seconds=0.5)
    try:
        with storage._guard(), pytest.raises(StorageUnavailable) as waited:
            storage.ping()
    finally:
        storage.close()
    assert describe_cause(waited.value).startswith("no database connection in time")


def test_several_hosts_are_named_each_with_its_port(tls_server: PostgresServer) -> None:
    """`host1:port1,host2:port2` with `target_session_attrs=read-write` (a failover pair): libpq tries
    them in turn. Before, errors and log lines named it `127.0.0.1,127.0.0.1:1,PORT/tls_only`."""
    port = tls_server.port
    url = (
        f"postgresql://tls_only:{ENCODED}@127.0.0.1:{free_port()},127.0.0.1:{port}/tls_only"
        "?target_session_attrs=read-write&sslmode=require&application_name=twostep-eu1"
    )
    dead = url.split("@", 1)[1].split(",", maxsplit=1)[0]
    assert describe(url) == f"{dead},127.0.0.1:{port}/tls_only"
    assert describe(url.replace(f":{port}/", "/")) == f"{dead},127.0.0.1:5432/tls_only"  # libpq's default
    storage = PostgresStorage(url, pool_size=1, timeout_seconds=5)
    try:
        named = "SELECT current_setting('application_name') AS name, inet_server_port() AS port"
        assert storage._one(named) == {"name": "twostep-eu1", "port": port}
    finally:
        storage.close()


def test_what_the_url_leaves_out_is_named_as_libpq_fills_it(
    tls_server: PostgresServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A URL without host, port or password: libpq takes them from PGHOST, PGPORT and PGPASSWORD (or
    .pgpass), as docs/postgresql.md says; errors named `localhost:5432` instead of where it connects."""
    monkeypatch.setenv("PGHOST", str(tls_server.root))  # the server's Unix socket
    monkeypatch.setenv("PGPORT", str(tls_server.port))
    monkeypatch.setenv("PGPASSWORD", MD5_PASSWORD)
    url = "postgresql://md5_role@/md5_role"
    assert describe(url) == f"{tls_server.root}:{tls_server.port}/md5_role"
    storage = PostgresStorage(url, pool_size=1, timeout_seconds=5)
    try:
        assert storage._one("SELECT inet_server_port() IS NULL AS over_socket") == {"over_socket": True}
    finally:
        storage.close()
    by_address = "postgresql://md5_role@/md5_role?hostaddr=127.0.0.1"  # libpq skips PGHOST's socket
    assert describe(by_address) == f"127.0.0.1:{tls_server.port}/md5_role"
    storage = PostgresStorage(by_address, pool_size=1, timeout_seconds=5)
    try:
        assert storage._one("SELECT inet_server_port() AS port") == {"port": tls_server.port}
    finally:
        storage.close()
    monkeypatch.delenv("PGPASSWORD")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{tls_server.port}:md5_role:md5_role:{MD5_PASSWORD}\n")
    passfile.chmod(0o600)  # libpq ignores a password file others can read
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    storage = PostgresStorage("postgresql://md5_role@127.0.0.1/md5_role", pool_size=1, timeout_seconds=5)
    try:
        assert storage.ping() is None
    finally:
        storage.close()


def test_compose_s_database_settings_take_a_base64_password(
    tls_server: PostgresServer, tmp_path: Path
) -> None:
    """compose.yaml put POSTGRES_PASSWORD into the URL as it was: one from `openssl rand -base64` (a `/`)
    was read as host, port and database, and the start's last line showed it; a `%` stopped the start."""
    password = "Zq/8+wK3@a:b%c#d=="
    with psycopg.connect(tls_server.url(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE twostep LOGIN PASSWORD '{password}'")
        conn.execute("ALTER DATABASE twostep OWNER TO twostep")
    with psycopg.connect(tls_server.url("twostep"), autocommit=True) as conn:
        conn.execute("ALTER SCHEMA public OWNER TO twostep")
    compose = yaml.safe_load((Path(__file__).parents[2] / "compose.yaml").read_text())
    given = {
        name: re.sub(r"\$\{POSTGRES_PASSWORD[^}]*\}", lambda _: password, str(value))
        for name, value in compose["services"]["twostep"]["environment"].items()
        if name.startswith("PG") or name in ("TWOSTEP_STORAGE", "TWOSTEP_DATABASE_URL")
    }
    assert "@postgres:5432/" in given["TWOSTEP_DATABASE_URL"]
    given["TWOSTEP_DATABASE_URL"] = given["TWOSTEP_DATABASE_URL"].replace(
        "@postgres:5432/", f"@127.0.0.1:{tls_server.port}/"
    )
    done = run_cli(
        server_env(tmp_path) | given | {"TWOSTEP_DATABASE_TIMEOUT_SECONDS": "2"}, "storage", "migrate"
    )
    assert done.returncode == 0, done.stderr
    assert "applied schema version(s)" in done.stdout
    assert not any(part in done.stdout + done.stderr for part in ("Zq", "8+wK3", "b%c"))

"""A real PostgreSQL server for the tests: Debian's `postgresql` binaries, a temporary data directory, loopback.

`postgres_server` (session) runs `initdb` (as the `postgres` user when the tests run as root: initdb
refuses root), starts the server on 127.0.0.1 on a free port with its unix socket inside the temporary
folder, and stops and removes it all at the end. `postgres_url` (per test) yields the URL of a fresh,
empty schema (the URL sets `search_path`; a schema costs far less than a database, ~1 s on a busy
machine); `PostgresServer.create_database` makes a whole database when a test needs one. Import both
fixtures into a conftest (tests/conftest.py does) to use them anywhere. `own_postgres_server()` gives a test
a server of its own, to reconfigure or stop.
`make test` installs the package (`make postgres`); without it the fixtures skip, saying why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.live import free_port

START_TIMEOUT_SECONDS = 60


def postgres_bin() -> Path | None:
    """The folder of the newest installed PostgreSQL's server binaries (initdb, pg_ctl), if any."""
    override = os.environ.get("TWOSTEP_TEST_PG_BIN")
    candidates = [Path(override)] if override else sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    found = [folder for folder in candidates if (folder / "initdb").is_file()]
    if not found:
        return None
    return max(found, key=lambda folder: int(folder.parent.name) if folder.parent.name.isdigit() else 0)


class PostgresServer:
    """One throwaway PostgreSQL cluster; `url(dbname)` connects as the superuser over TCP (trust auth)."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="twostep-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.log = self.root / "server.log"

    def _run(self, *args: str) -> None:
        """A server binary, as `postgres` when we are root; raises with its output on failure."""
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=START_TIMEOUT_SECONDS, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}{self._log_tail()}")

    def _log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        self.pg_ctl("start")
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "twostep")
        return self

    def pg_ctl(self, action: str, *args: str) -> None:
        """`pg_ctl start` (with this cluster's options) or `stop`, waiting until it is done."""
        if action == "start":
            options = (
                f"-h 127.0.0.1 -p {self.port} -k {self.root}"
                # A test cluster: no crash safety needed; room for the race tests' threads and many pools.
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
            )
            args = ("-l", str(self.log), "-o", options, *args)
        self._run("pg_ctl", action, "-D", str(self.data), "-w", *args)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def socket_url(self, dbname: str) -> str:
        """The same database over the server's Unix socket (libpq's `host=` a directory)."""
        return f"postgresql://postgres@/{dbname}?host={self.root}&port={self.port}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")  # a generated name, never user input
        return self.url(name)

    def create_schema(self) -> str:
        """A new empty schema in the `twostep` database; returns a URL whose connections use only it."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url("twostep"), autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")  # a generated name, never user input
        return f"{self.url('twostep')}?options=-csearch_path%3D{name}"

    def drop_schema(self, url: str) -> None:
        import psycopg

        name = url.rsplit("%3D", 1)[1]
        with psycopg.connect(self.url("twostep"), autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def own_postgres_server() -> Iterator[PostgresServer]:
    """A server of the caller's own, started, and stopped after; without PostgreSQL the test skips."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (`make postgres` installs Debian's postgresql)")
    server = PostgresServer(bin_dir).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with own_postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty schema on the session's server, dropped after the test."""
    url = postgres_server.create_schema()
    yield url
    postgres_server.drop_schema(url)

"""Each 503 names its cause: real SQLite faults (locked, read-only, disk full, out of descriptors) and
the readiness probe over them."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from datetime import timedelta
from pathlib import Path

import pytest

from twostep.api.causes import describe_cause
from twostep.domain.clock import FixedClock
from twostep.domain.errors import StorageUnavailable
from twostep.services.health import HealthService
from twostep.storage.memory import MemoryStorage
from twostep.storage.sqlite import SqliteStorage


def sqlite_failure(db: Path, sql: str, *, uri: bool = False, setup: str = "") -> StorageUnavailable:
    """Run `sql` on a real connection and wrap its driver error the way the storage does."""
    with closing(sqlite3.connect(str(db), uri=uri, timeout=0.01, isolation_level=None)) as conn:
        if setup:
            conn.executescript(setup)
        try:
            conn.execute(sql)
        except sqlite3.Error as exc:
            try:
                raise StorageUnavailable() from exc
            except StorageUnavailable as wrapped:
                return wrapped
    raise AssertionError("no error")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "t.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
    return path


def test_locked(db: Path) -> None:
    with closing(sqlite3.connect(db, isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")
        cause = describe_cause(sqlite_failure(db, "INSERT INTO t VALUES (1)"))
        holder.execute("ROLLBACK")
    assert cause.startswith("locked")


def test_read_only(db: Path) -> None:
    error = sqlite_failure(Path(f"file:{db}?mode=ro"), "INSERT INTO t VALUES (1)", uri=True)
    assert describe_cause(error).startswith("read-only database")


def test_disk_full(db: Path) -> None:
    setup = "PRAGMA max_page_count = 2;"  # the database may not grow: SQLite's own "disk is full"
    error = sqlite_failure(db, "INSERT INTO t SELECT zeroblob(100000)", setup=setup)
    assert describe_cause(error).startswith("disk full")


def test_out_of_file_descriptors(db: Path) -> None:
    """In a child process with a tiny descriptor limit: SQLite says only "unable to open database file"."""
    script = textwrap.dedent(
        f"""
        import resource, sqlite3
        from twostep.api.causes import describe_cause
        from twostep.domain.errors import StorageUnavailable
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        held = []
        try:
            while True:
                held.append(open("/dev/null"))
        except OSError:
            pass
        try:
            sqlite3.connect({str(db)!r}).execute("SELECT 1")
        except sqlite3.Error as exc:
            error = StorageUnavailable()
            error.__cause__ = exc
            print(describe_cause(error))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.stdout.startswith("out of file descriptors"), result.stderr


def test_os_errors_and_sdk_codes() -> None:
    import errno

    for number, text in ((errno.ENOSPC, "disk full"), (errno.EROFS, "read-only file system")):
        try:
            raise StorageUnavailable() from OSError(number, "x")
        except StorageUnavailable as error:
            assert describe_cause(error) == text

    class ClientError(Exception):  # botocore's shape: the error code in `response`
        response = {"Error": {"Code": "ProvisionedThroughputExceededException"}}

    try:
        raise StorageUnavailable() from ClientError()
    except StorageUnavailable as error:
        assert describe_cause(error) == "ProvisionedThroughputExceededException"


def test_readiness_writes_and_keeps_its_outcome_a_second(db: Path) -> None:
    clock = FixedClock()
    storage = SqliteStorage(db)
    storage.init_schema()
    health = HealthService(storage, clock)
    health.ready()
    with closing(sqlite3.connect(db, isolation_level=None)) as holder:
        holder.execute("BEGIN EXCLUSIVE")  # every write now fails after the busy timeout
        health.ready()  # the outcome of a moment ago
        clock.advance(1)
        slow = SqliteStorage(db, busy_timeout_ms=10)
        with pytest.raises(StorageUnavailable) as failed:
            HealthService(slow, clock).ready()
        holder.execute("ROLLBACK")
    assert describe_cause(failed.value).startswith("locked")


def test_readiness_on_memory_storage() -> None:
    clock = FixedClock()
    health = HealthService(MemoryStorage(), clock, probe_every=timedelta(0))
    health.ready()
    health.ready()


def test_postgresql_gone_is_named() -> None:
    """Before, with PostgreSQL down the readiness probe's 503 and its log line gave `cause` as psycopg's
    class name (`PoolTimeout`, `OperationalError`), which says neither that the server is unreachable nor
    that a connection broke; the docs promise a cause read from the driver's error."""
    from tests.live import free_port
    from twostep.storage.postgres_connection import PostgresConnections

    gone = PostgresConnections(
        f"postgresql://postgres@127.0.0.1:{free_port()}/x", pool_size=1, timeout_seconds=0.5
    )
    try:
        with pytest.raises(StorageUnavailable) as refused:
            gone._one("SELECT 1")
    finally:
        gone.close()
    assert describe_cause(refused.value) == "connection refused"  # the pool's try, not only the wait
    import psycopg

    try:
        try:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        except psycopg.Error as exc:
            raise StorageUnavailable() from exc
    except StorageUnavailable as lost:
        assert describe_cause(lost) == "database connection lost or refused"


def test_probes_at_once_share_one_storage_check() -> None:
    """Before, probes that arrived while a check was still running (a database slow to answer, or
    locked) each ran a check of their own: 20 probes at once wrote 20 times, where the docs promise at most
    one write a second however hard it is polled."""
    import threading
    import time

    clock = FixedClock()

    class SlowStorage(MemoryStorage):
        writes = 0

        def increment_counter(self, *args: object, **kwargs: object) -> int:
            type(self).writes += 1
            time.sleep(0.2)
            return super().increment_counter(*args, **kwargs)  # type: ignore[arg-type]

    health = HealthService(SlowStorage(), clock)
    start = threading.Barrier(20)

    def probe() -> None:
        start.wait()
        health.ready()

    threads = [threading.Thread(target=probe) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert SlowStorage.writes == 1

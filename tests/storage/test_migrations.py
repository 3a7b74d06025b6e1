"""Schema migrations: `twostep storage migrate` (and every start) upgrades SQLite and PostgreSQL databases,
idempotently, once when two processes start together, and without losing a row of a version-1 database."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest

from tests.live import run_cli, server_env
from twostep.domain.errors import StorageUnavailable
from twostep.storage.migrations import LATEST, STEPS
from twostep.storage.postgres import PostgresStorage
from twostep.storage.schema_v1 import POSTGRES_V1
from twostep.storage.sqlite import SqliteStorage

# The SQLite schema exactly as landed before migrations existed (storage/sqlite_connection.py, SCHEMA).
LANDED_V1_SQLITE = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, phone TEXT UNIQUE, password_hash TEXT NOT NULL,
    first_name TEXT, last_name TEXT, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS challenges (
    id TEXT PRIMARY KEY, purpose TEXT NOT NULL, subject TEXT NOT NULL, phone TEXT NOT NULL,
    code_hmac TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL NOT NULL, max_attempts INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, consumed_at REAL, sends INTEGER NOT NULL DEFAULT 1,
    last_sent_at REAL, code_length INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY, family_id TEXT NOT NULL, user_id TEXT NOT NULL, created_at REAL NOT NULL,
    expires_at REAL NOT NULL, family_expires_at REAL NOT NULL, amr TEXT NOT NULL, used_at REAL, revoked_at REAL);
CREATE INDEX IF NOT EXISTS refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_user ON refresh_tokens (user_id);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, author TEXT NOT NULL, content TEXT NOT NULL,
    created_at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS messages_recent ON messages (created_at DESC, id DESC);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, to_number TEXT NOT NULL, body TEXT NOT NULL, sent_at REAL NOT NULL,
    provider TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_to ON outbox (to_number, seq);
CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL, at REAL NOT NULL, user_id TEXT,
    email_hash TEXT, phone_masked TEXT, ip TEXT, request_id TEXT, detail TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_user ON audit (user_id, seq);
"""

LANDED_ROWS = {
    "users": "INSERT INTO users VALUES ('u1', 'ada@example.com', '+905555555555', 'h', 'Ada', 'L', 1.5e9)",
    "challenges": "INSERT INTO challenges VALUES ('c1', 'login', 'u1', '+905555555555', 'mac', 1.5e9,"
    " 1.6e9, 5, 1, NULL, 1, NULL, 6)",
    "refresh_tokens": "INSERT INTO refresh_tokens VALUES ('t1', 'f1', 'u1', 1.5e9, 1.6e9, 1.6e9, 'pwd,sms',"
    " NULL, NULL)",
    "messages": "INSERT INTO messages VALUES ('m1', 'u1', 'Ada', 'hello', 1.5e9)",
    "outbox": "INSERT INTO outbox (to_number, body, sent_at, provider) VALUES ('+905555555555', 'b', 1.5e9, 'x')",
    "counters": "INSERT INTO counters VALUES ('k', 3, 1.6e9)",
    "audit": "INSERT INTO audit (event, at, detail) VALUES ('login', 1.5e9, '{}')",
}


def _landed_database(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(LANDED_V1_SQLITE)
        for insert in LANDED_ROWS.values():
            conn.execute(insert)
    conn.close()


def _counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        counts = {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in LANDED_ROWS}
    conn.close()
    return counts


def _versions(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    conn.close()
    return versions


def test_the_migrate_command_upgrades_a_landed_sqlite_database_without_losing_rows(tmp_path: Path) -> None:
    env = server_env(tmp_path)
    db = Path(env["TWOSTEP_SQLITE_PATH"])
    _landed_database(db)

    first = run_cli(env, "storage", "migrate", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"applied schema version(s) {', '.join(str(step.version) for step in STEPS)}" in first.stdout
    assert _counts(db) == dict.fromkeys(LANDED_ROWS, 1)
    assert _versions(db) == [step.version for step in STEPS]

    again = run_cli(env, "storage", "migrate", cwd=tmp_path)
    assert again.returncode == 0 and "schema already current" in again.stdout, again.stderr
    storage = SqliteStorage(db)
    user = storage.get_user("u1")
    assert user is not None and user.email == "ada@example.com"
    assert storage.list_outbox(to="+905555555555")[0].body == "b"
    storage.close()


def _migrate_in_parallel(env: dict[str, str], cwd: Path, processes: int = 3) -> list[str]:
    """Several `twostep storage migrate` at once on one fresh database; returns their outputs."""
    command = [sys.executable, "-m", "twostep", "storage", "migrate"]
    running = [
        subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    outputs = []
    for process in running:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        outputs.append(out)
    return outputs


def _applied_once(outputs: list[str]) -> None:
    applied = [out for out in outputs if out.startswith("applied schema version(s)")]
    assert len(applied) == 1, outputs
    assert all("schema already current" in out for out in outputs if out not in applied), outputs


def test_processes_starting_together_apply_each_sqlite_step_once(tmp_path: Path) -> None:
    env = server_env(tmp_path)
    sqlite3.connect(env["TWOSTEP_SQLITE_PATH"]).close()  # an empty database: `migrate` makes none itself
    _applied_once(_migrate_in_parallel(env, tmp_path))
    assert _versions(Path(env["TWOSTEP_SQLITE_PATH"])) == [step.version for step in STEPS]


def test_processes_starting_together_apply_each_postgres_step_once(tmp_path: Path, postgres_url: str) -> None:
    env = server_env(tmp_path, TWOSTEP_STORAGE="postgres", TWOSTEP_DATABASE_URL=postgres_url)
    _applied_once(_migrate_in_parallel(env, tmp_path))
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
    assert [row[0] for row in rows] == [step.version for step in STEPS]


def test_a_database_from_a_newer_release_is_refused_with_one_line(tmp_path: Path, postgres_url: str) -> None:
    storage = SqliteStorage(tmp_path / "newer.db")
    storage.init_schema()
    storage._execute("INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)", (LATEST + 1,))
    with pytest.raises(StorageUnavailable, match=f"schema version {LATEST + 1}, newer than this release"):
        storage.init_schema()
    storage.close()

    pg = PostgresStorage(postgres_url)
    pg.init_schema()
    pg._execute("INSERT INTO schema_migrations (version) VALUES (%s)", (LATEST + 1,))
    with pytest.raises(StorageUnavailable, match=f"schema version {LATEST + 1}, newer than this release"):
        pg.init_schema()
    pg.close()


def test_a_version_1_postgres_database_is_upgraded_without_losing_rows(postgres_url: str) -> None:
    """Every later step (PostgreSQL side) runs over a database that holds rows in every version-1 table."""
    epoch_to_time = re.compile(r"\b1\.[56]e9\b")  # the SQLite rows above keep times as UNIX seconds
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(POSTGRES_V1)
        conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz)")
        conn.execute("INSERT INTO schema_migrations VALUES (1, now())")
        for insert in LANDED_ROWS.values():
            sql = epoch_to_time.sub(lambda m: f"to_timestamp({m.group(0)})", insert)
            conn.execute(sql.replace("'pwd,sms'", "ARRAY['pwd','sms']"))

    storage = PostgresStorage(postgres_url)
    assert storage.migrate() == [step.version for step in STEPS if step.version > 1]
    storage.close()
    with psycopg.connect(postgres_url) as conn:
        counts = {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone() for table in LANDED_ROWS}
    assert counts == dict.fromkeys(LANDED_ROWS, (1,))


def test_a_sqlite_start_waits_for_another_process_s_migration_past_the_busy_timeout(tmp_path: Path) -> None:
    """Before, a process starting while another applied a migration step that took longer than the busy
    timeout (TWOSTEP_SQLITE_BUSY_TIMEOUT_MS, 10 s: a step over a large table) failed to start with
    "database is locked" (the second worker of `twostep serve --workers 2`), where PostgreSQL's waits
    for the advisory lock. It now waits for the other's transaction, then finds the schema current."""
    path = tmp_path / "old.db"
    SqliteStorage(path).init_schema()
    migrating = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    migrating.execute("BEGIN IMMEDIATE")  # the other process, in the middle of a slow step
    done = threading.Timer(1.0, lambda: migrating.execute("COMMIT"))
    done.start()
    second = SqliteStorage(path, busy_timeout_ms=200)
    try:
        assert second.migrate() == []
    finally:
        done.join()
        migrating.close()
        second.close()

"""Schema step 21 and `twostep storage migrate` make the addresses a 0.1.0 database holds canonical.

Before, an account 0.1.0 stored as `ada@münchen.de` (its normalise_email only lower-cased) was never found
after the upgrade, which looks addresses up in their canonical form (`ada@xn--mnchen-3ya.de`): its owner
could neither sign in nor reset, and the address could open a second account beside it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import psycopg

from tests.live import run_cli, server_env
from tests.storage.test_migrations import LANDED_V1_SQLITE
from twostep.storage.migrations import STEPS
from twostep.storage.postgres import PostgresStorage
from twostep.storage.schema_v1 import POSTGRES_V1
from twostep.storage.sqlite import SqliteStorage

# As 0.1.0 stored them: u1 and u2 typed with a Unicode domain and a decomposed é; u3 the same mailbox as
# u4, typed in full-width letters, signed up later; u5 in ASCII, as it was and stays.
USERS_0_1_0 = [
    ("u1", "ada@münchen.de", 1.5e9),
    ("u2", "jose\u0301@example.com", 1.5e9 + 1),
    ("u4", "bob@example.com", 1.5e9 + 2),
    ("u3", "\uff42ob@example.com", 1.5e9 + 3),
    ("u5", "eve@example.com", 1.5e9 + 4),
]
CANONICAL = {"u1": "ada@xn--mnchen-3ya.de", "u2": "jos\u00e9@example.com", "u4": "bob@example.com"}


def _sqlite_0_1_0(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(LANDED_V1_SQLITE)
        for user_id, email, created in USERS_0_1_0:
            conn.execute("INSERT INTO users VALUES (?, ?, NULL, 'h', 'A', 'B', ?)", (user_id, email, created))
    conn.close()


def test_migrate_from_a_0_1_0_sqlite_database_finds_its_accounts_by_their_canonical_address(
    tmp_path: Path,
) -> None:
    env = server_env(tmp_path)
    db = Path(env["TWOSTEP_SQLITE_PATH"])
    _sqlite_0_1_0(db)

    first = run_cli(env, "storage", "migrate", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("applied schema version(s) 1, 2,") and ", 21 (sqlite)" in first.stdout
    # The pair the operator must settle, by account ids (and no full address).
    assert "two accounts have one address (b**@example.com): u4 keeps it, u3 keeps its older" in first.stderr
    again = run_cli(env, "storage", "migrate", cwd=tmp_path)
    assert again.returncode == 0 and "schema already current" in again.stdout, again.stderr

    storage = SqliteStorage(db)
    for user_id, canonical in CANONICAL.items():
        found = storage.find_user_by_email(canonical)
        assert found is not None and found.id == user_id
    left = storage.get_user("u3")
    assert left is not None and left.email == "\uff42ob@example.com"  # kept, not merged, not dropped
    assert len(storage.list_users(10).items) == len(USERS_0_1_0)
    storage.close()


def test_a_0_1_0_sqlite_database_is_upgraded_by_a_start_too(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    _sqlite_0_1_0(db)
    storage = SqliteStorage(db)
    storage.init_schema()
    found = storage.find_user_by_email("ada@xn--mnchen-3ya.de")
    assert found is not None and found.id == "u1"
    storage.close()


def _postgres_0_1_0(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(POSTGRES_V1)
        conn.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY, applied_at timestamptz)")
        conn.execute("INSERT INTO schema_migrations VALUES (1, now())")
        for user_id, email, created in USERS_0_1_0:
            conn.execute(
                "INSERT INTO users (id, email, password_hash, first_name, last_name, created_at)"
                " VALUES (%s, %s, 'h', 'A', 'B', to_timestamp(%s))",
                (user_id, email, created),
            )


def test_a_0_1_0_postgres_database_is_upgraded_to_canonical_addresses(postgres_url: str) -> None:
    _postgres_0_1_0(postgres_url)
    storage = PostgresStorage(postgres_url)
    assert storage.migrate() == [step.version for step in STEPS if step.version > 1]
    for user_id, canonical in CANONICAL.items():
        found = storage.find_user_by_email(canonical)
        assert found is not None and found.id == user_id
    left = storage.get_user("u3")
    assert left is not None and left.email == "\uff42ob@example.com"
    assert storage.canonicalise_emails() != []  # the pair is reported again; nothing else changes
    assert len(storage.list_users(10).items) == len(USERS_0_1_0)
    storage.close()


def test_a_postgres_upgrade_beside_a_sign_up_of_the_same_address_reports_the_pair(postgres_url: str) -> None:
    """A process still serving inserts the canonical address while step 21 runs: the unique index decides,
    and the step reports the pair instead of failing the whole migration (which then ran at every start)."""
    _postgres_0_1_0(postgres_url)
    with psycopg.connect(postgres_url) as serving:
        serving.execute(
            "INSERT INTO users (id, email, password_hash, created_at) VALUES ('u9', 'ada@xn--mnchen-3ya.de',"
            " 'h', now())"
        )  # not yet committed: the step's UPDATE of u1 waits for it
        storage = PostgresStorage(postgres_url)
        applied: list[int] = []
        upgrading = threading.Thread(target=lambda: applied.extend(storage.migrate()))
        upgrading.start()
        time.sleep(1.0)
        serving.commit()
        upgrading.join(timeout=60)
    assert 21 in applied
    assert storage.get_user("u1") is not None and storage.get_user("u1").email == "ada@münchen.de"  # type: ignore[union-attr]
    found = storage.find_user_by_email("ada@xn--mnchen-3ya.de")
    assert found is not None and found.id == "u9"
    storage.close()

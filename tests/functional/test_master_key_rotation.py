"""`twostep keys rotate-master-key`: the key record re-sealed with a new master key on SQLite (a
configured key, and dev's file beside the database), refused where it cannot apply, no key ever shown.

Before, no command re-sealed the keys: a leaked master key (with any backup of the database) opened the
signing keys and the code HMAC key for ever."""

from __future__ import annotations

import os
import sqlite3
import uuid
from pathlib import Path

import pytest

from tests.conftest import AWS_TEST_ENVIRONMENT
from tests.functional.test_cli import env, twostep
from twostep.secrets.master_key import (
    DEV_SERVER_MASTER_KEY,
    MasterKey,
    dev_master_key_path,
    dev_previous_key_path,
)

__all__ = ["env"]  # the fixture, shared with test_cli

OLD = "the-old-master-key-0123456789abcdefghij"
NEW = "the-new-master-key-0123456789abcdefghij"


def _sealing_id(database: Path) -> str:
    with sqlite3.connect(database) as db:
        return str(db.execute("SELECT master_key_id FROM key_record").fetchone()[0])


def test_the_keys_are_resealed_with_the_new_master_key_and_the_old_one_is_refused(
    env: dict[str, str],
) -> None:
    database = Path(env["TWOSTEP_SQLITE_PATH"])
    assert twostep(env | {"TWOSTEP_MASTER_KEY": OLD}, "storage", "init").returncode == 0
    rotating = env | {"TWOSTEP_MASTER_KEY": NEW, "TWOSTEP_MASTER_KEY_PREVIOUS": OLD}
    result = twostep(rotating, "keys", "rotate-master-key")
    assert result.returncode == 0, result.stderr
    new_id, old_id = MasterKey(NEW, "new").key_id, MasterKey(OLD, "old").key_id
    assert f"with the master key of TWOSTEP_MASTER_KEY ({new_id}; was {old_id})" in result.stdout
    assert _sealing_id(database) == new_id
    assert OLD not in result.stdout + result.stderr and NEW not in result.stdout + result.stderr

    again = twostep(rotating, "keys", "rotate-master-key")
    assert again.returncode == 0 and "already sealed with this master key" in again.stdout

    refused = twostep(env | {"TWOSTEP_MASTER_KEY": OLD}, "storage", "init")
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 2 and len(lines) == 1, refused.stderr
    assert "TWOSTEP_MASTER_KEY: the database's keys are sealed with another master key" in lines[0]
    assert "rotate-master-key" in lines[0] and OLD not in lines[0]
    assert twostep(env | {"TWOSTEP_MASTER_KEY": NEW}, "keys", "rotate").returncode == 0  # new key alone


def test_without_the_key_that_seals_the_record_it_is_refused_with_one_line(env: dict[str, str]) -> None:
    assert twostep(env | {"TWOSTEP_MASTER_KEY": OLD}, "storage", "init").returncode == 0
    result = twostep(env | {"TWOSTEP_MASTER_KEY": NEW}, "keys", "rotate-master-key")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "TWOSTEP_MASTER_KEY_PREVIOUS" in result.stderr
    assert _sealing_id(Path(env["TWOSTEP_SQLITE_PATH"])) == MasterKey(OLD, "old").key_id  # untouched


def test_dev_writes_a_new_key_beside_the_database_and_keeps_the_old_one_as_previous(
    env: dict[str, str],
) -> None:
    database = Path(env["TWOSTEP_SQLITE_PATH"])
    assert twostep(env, "storage", "init").returncode == 0
    first = dev_master_key_path(database).read_text().strip()
    result = twostep(env, "keys", "rotate-master-key")
    assert result.returncode == 0, result.stderr
    second = dev_master_key_path(database).read_text().strip()
    assert second != first and dev_previous_key_path(database).read_text().strip() == first
    for path in (dev_master_key_path(database), dev_previous_key_path(database)):
        assert path.stat().st_mode & 0o777 == 0o600
    assert _sealing_id(database) == MasterKey(second, "dev").key_id
    assert first not in result.stdout and second not in result.stdout
    dev_previous_key_path(database).unlink()  # the operator removes the old key: nothing needs it
    assert twostep(env, "keys", "rotate").returncode == 0


def test_an_interrupted_dev_rotation_is_finished_by_running_it_again(env: dict[str, str]) -> None:
    """The new file is written before the record: a rotation stopped in between leaves the record sealed
    with `.previous`, which still opens it; the next run re-seals it and makes no third key (which would
    have pushed the one sealing the record out of `.previous`)."""
    database = Path(env["TWOSTEP_SQLITE_PATH"])
    assert twostep(env, "storage", "init").returncode == 0
    first = dev_master_key_path(database).read_text()
    dev_previous_key_path(database).write_text(first)  # as the command leaves it when stopped
    dev_master_key_path(database).write_text("an-interrupted-rotations-new-key-0123456789\n")
    assert twostep(env, "storage", "init").returncode == 0  # a process still opens the keys
    result = twostep(env, "keys", "rotate-master-key")
    assert result.returncode == 0, result.stderr
    assert dev_previous_key_path(database).read_text() == first
    assert "with the master key of TWOSTEP_SQLITE_PATH" in result.stdout
    assert _sealing_id(database) == MasterKey("an-interrupted-rotations-new-key-0123456789", "d").key_id


def test_refused_where_no_master_key_seals_anything_the_command_reaches(env: dict[str, str]) -> None:
    memory = twostep(env | {"TWOSTEP_STORAGE": "memory"}, "keys", "rotate-master-key")
    assert memory.returncode == 2 and "TWOSTEP_STORAGE=memory" in memory.stderr
    aws = env | {"TWOSTEP_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:twostep"}
    refused = twostep(aws, "keys", "rotate-master-key")
    assert refused.returncode == 2 and "sealed by KMS" in refused.stderr, refused.stderr
    missing = twostep(env, "keys", "rotate-master-key")
    assert missing.returncode == 3 and "no database" in missing.stderr


def test_a_bad_previous_master_key_is_refused_at_start_with_one_line(env: dict[str, str]) -> None:
    cases = {
        "short": ({"TWOSTEP_MASTER_KEY_PREVIOUS": "short"}, "at least 32 characters"),
        "same": ({"TWOSTEP_MASTER_KEY": OLD, "TWOSTEP_MASTER_KEY_PREVIOUS": OLD}, "the same as"),
        "both": (
            {"TWOSTEP_MASTER_KEY_PREVIOUS": OLD, "TWOSTEP_MASTER_KEY_PREVIOUS_FILE": "/x"},
            "not both",
        ),
        "missing file": (
            {"TWOSTEP_MASTER_KEY": NEW, "TWOSTEP_MASTER_KEY_PREVIOUS_FILE": "/nonexistent/mk"},
            "cannot read",
        ),
        "no master key": ({"TWOSTEP_MASTER_KEY_PREVIOUS": OLD}, "set that too"),
    }
    for name, (extra, reason) in cases.items():
        result = twostep(env | extra, "storage", "init")
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, (name, result.stderr)
        assert "TWOSTEP_MASTER_KEY_PREVIOUS" in lines[0] and reason in lines[0], (name, lines)
        assert OLD not in lines[0]


def test_a_previous_master_key_without_a_master_key_is_refused_before_dev_s_key_moves_aside(
    env: dict[str, str],
) -> None:
    """Before, in dev on SQLite without a configured master key, a TWOSTEP_MASTER_KEY_PREVIOUS left set
    was read instead of `.master-key.previous`: the rotation moved the dev key aside, then could not open
    the record (exit 2), and every start after it refused, saying to set TWOSTEP_MASTER_KEY_PREVIOUS."""
    database = Path(env["TWOSTEP_SQLITE_PATH"])
    assert twostep(env, "storage", "init").returncode == 0
    sealing = _sealing_id(database)
    result = twostep(env | {"TWOSTEP_MASTER_KEY_PREVIOUS": OLD}, "keys", "rotate-master-key")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "TWOSTEP_MASTER_KEY_PREVIOUS: names the key" in lines[0] and OLD not in lines[0]
    assert not dev_previous_key_path(database).exists() and _sealing_id(database) == sealing
    assert twostep(env, "storage", "init").returncode == 0  # untouched: the deployment starts


@pytest.fixture(params=["postgres", "dynamodb"])
def server_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Dev on a database server with no master key configured: the keys are sealed with the dev key."""
    values = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    values |= {"TWOSTEP_STAGE": "dev", "TWOSTEP_SQLITE_PATH": str(tmp_path / "unused.db")}
    if request.param == "postgres":
        return values | {
            "TWOSTEP_STORAGE": "postgres",
            "TWOSTEP_DATABASE_URL": request.getfixturevalue("postgres_url"),
        }
    table = f"dev-to-real-{uuid.uuid4().hex[:10]}"
    endpoint = {"AWS_ENDPOINT_URL": request.getfixturevalue("moto_server")}
    return (
        values
        | AWS_TEST_ENVIRONMENT
        | endpoint
        | {"TWOSTEP_STORAGE": "dynamodb", "TWOSTEP_DYNAMODB_TABLE": table}
    )


def test_dev_on_a_database_server_moves_to_a_real_master_key_without_the_published_key(
    server_env: dict[str, str],
) -> None:
    """Before, dev on PostgreSQL or DynamoDB (keys sealed with the published dev key) could only move to a
    real master key by typing that published key as TWOSTEP_MASTER_KEY_PREVIOUS; the command refused
    otherwise. It opens them with the dev key itself now, and says so; never the other way round."""
    assert twostep(server_env, "storage", "init").returncode == 0
    before = twostep(server_env, "keys", "rotate", "--activation-delay", "0")
    assert before.returncode == 0, before.stderr
    real = server_env | {"TWOSTEP_MASTER_KEY": NEW}
    result = twostep(real, "keys", "rotate-master-key")
    assert result.returncode == 0, result.stderr
    assert (
        "published dev master key" in result.stdout and f"({MasterKey(NEW, 'new').key_id};" in result.stdout
    )
    assert DEV_SERVER_MASTER_KEY not in result.stdout + result.stderr and NEW not in result.stdout
    assert twostep(real, "keys", "rotate").returncode == 0  # the real key alone opens them now
    back = twostep(server_env, "keys", "rotate-master-key")  # real -> dev: never
    assert back.returncode == 2 and "sealed with another master key" in back.stderr, back.stderr
    assert twostep(server_env, "keys", "rotate").returncode == 2  # the dev key opens nothing any more

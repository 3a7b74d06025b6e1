"""The `twostep` command as a user runs it: a real process over a real SQLite file."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from twostep.secrets.master_key import MasterKey, dev_master_key_path, new_master_key


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if not k.startswith("TWOSTEP_")}
    values.update(
        TWOSTEP_SQLITE_PATH=str(tmp_path / "cli.db"), TWOSTEP_JWT_KEY_FILE=str(tmp_path / "keys.json")
    )
    return values


def twostep(
    env: dict[str, str], *args: str, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twostep", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        input=input_text,
        cwd=Path(env["TWOSTEP_SQLITE_PATH"]).parent,
        check=False,
    )


def _create_user(env: dict[str, str]) -> str:
    code = (
        "from twostep.container import build; from twostep.settings import Settings;"
        "from twostep.services.registration import Registration;"
        "c = build(Settings()); u = c.registration.register(Registration(email='cli@example.com',"
        "password='correct horse battery staple', first_name='C', last_name='L', phone='+905555555555'));"
        "c.login.start('cli@example.com', 'correct horse battery staple'); print(u.id)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout.strip()


def test_storage_init_is_idempotent(env: dict[str, str]) -> None:
    for _ in range(2):
        result = twostep(env, "storage", "init")
        assert result.returncode == 0, result.stderr
        assert "storage ready (sqlite)" in result.stdout


def test_a_failed_storage_init_leaves_no_database(env: dict[str, str], tmp_path: Path) -> None:
    """`storage init` in staging without a master key created the tables, then failed on the key and left
    `cli.db` behind: the admin commands, which refuse a missing database, then acted on the empty one.
    The failed init now deletes the files it made; the admin commands refuse again."""
    staging = {**env, "TWOSTEP_STAGE": "staging"}
    failed = twostep(staging, "storage", "init")
    assert failed.returncode == 2 and "TWOSTEP_MASTER_KEY" in failed.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == []
    refused = twostep({**staging, "TWOSTEP_MASTER_KEY": new_master_key()}, "users", "list")
    assert refused.returncode == 3 and "no database at" in refused.stderr


def test_a_commands_log_lines_are_redacted(env: dict[str, str]) -> None:
    """Only `serve` set up logging: an administration command's warnings went through Python's last-resort
    handler, bare and unredacted, a database URL's password and a phone number included. They are now
    readable lines through the server's redaction."""
    code = (
        "import logging, twostep.container as c; from twostep.cli import main;"
        "from twostep.domain.errors import StorageUnavailable\n"
        "def build(settings, **kw):\n"
        "    logging.getLogger('twostep.storage').warning("
        "'cannot reach postgresql://app:Sup3rS3cretPW@db/app for +905555555555')\n"
        "    raise StorageUnavailable('storage unavailable')\n"
        "c.build = build; main(['users', 'list'])"
    )
    Path(env["TWOSTEP_SQLITE_PATH"]).touch()  # the command runs only where a database is
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 4
    logged, failure = result.stderr.splitlines()
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d WARNING twostep\.storage  cannot reach postgresql://app:\[redacted\]@db/app for \[redacted\]",
        logged,
    )
    assert failure == "twostep: storage unavailable"


def test_an_unreachable_postgresql_is_told_in_log_lines_without_its_password(env: dict[str, str]) -> None:
    """psycopg_pool's "error connecting" warnings came out as bare text, past the redaction."""
    unreachable = {
        **env,
        "TWOSTEP_STORAGE": "postgres",
        "TWOSTEP_DATABASE_URL": "postgresql://app:Sup3rS3cretPW@127.0.0.1:1/db",
        "TWOSTEP_DATABASE_TIMEOUT_SECONDS": "2",
    }
    result = twostep(unreachable, "users", "list")
    assert result.returncode == 4 and "Sup3rS3cretPW" not in result.stderr
    *logged, failure = result.stderr.splitlines()
    assert failure.startswith("twostep: Cannot use the PostgreSQL database 127.0.0.1:1/db")
    told = [line for line in logged if not line.startswith("\t")]  # libpq's hint continues the line
    assert told and all(re.match(r"\d\d:\d\d:\d\d (WARNING|ERROR) +\S+  ", line) for line in told), told


def test_users_and_outbox(env: dict[str, str]) -> None:
    user_id = _create_user(env)
    listed = json.loads(twostep(env, "users", "list", "--json").stdout)
    assert [u["email"] for u in listed] == ["cli@example.com"]
    assert listed[0]["phone"] == "+90********55"
    assert json.loads(twostep(env, "users", "show", user_id).stdout)["id"] == user_id

    outbox = json.loads(twostep(env, "sms", "outbox", "--json", "--to", "+90 555 555 5555").stdout)
    assert len(outbox) == 1 and {"to", "body", "sent_at"} <= set(outbox[0])
    assert (
        outbox[0]["to"] == "+905555555555" and "giriş kodunuz" in outbox[0]["body"]
    )  # Turkish: a +90 number

    assert twostep(env, "users", "delete", user_id, "--yes").returncode == 0
    missing = twostep(env, "users", "show", user_id)
    assert missing.returncode == 3 and missing.stderr.strip() == f"twostep: no user {user_id}"


def test_outbox_refused_in_prod(env: dict[str, str]) -> None:
    env.update(TWOSTEP_STAGE="prod", TWOSTEP_SMS_PROVIDERS="sns", TWOSTEP_EMAIL_PROVIDER="ses")
    for tool in ("sms", "email"):
        result = twostep(env, tool, "outbox")
        assert result.returncode == 1
        assert "refused when TWOSTEP_STAGE=prod" in result.stderr


def test_bad_setting_is_one_clear_line(env: dict[str, str]) -> None:
    env["TWOSTEP_OTP_LENGTH"] = "12"
    result = twostep(env, "storage", "init")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "twostep: TWOSTEP_OTP_LENGTH: Input should be less than or equal to 10"
    ]


def test_keys_rotate_keeps_previous_key(env: dict[str, str]) -> None:
    assert twostep(env, "storage", "init").returncode == 0
    result = twostep(env, "keys", "rotate")
    assert result.returncode == 0 and "1 previous key(s) kept" in result.stdout
    database = Path(env["TWOSTEP_SQLITE_PATH"])
    with sqlite3.connect(database) as db:
        (sealed,) = db.execute("SELECT sealed FROM key_record").fetchone()
    master_file = dev_master_key_path(database)
    master = MasterKey(master_file.read_text().strip(), "test")
    keys = json.loads(master.open(sealed))["signing_keys"]
    assert len(keys) == 2 and "retired_at" in keys[1] and "activates_at" in keys[0]
    assert oct(master_file.stat().st_mode & 0o777) == "0o600"
    assert not Path(env["TWOSTEP_JWT_KEY_FILE"]).exists()  # keys live in the database, never per folder


def test_keys_rotate_refuses_memory_storage(env: dict[str, str]) -> None:
    """With memory storage the command rotated the keys of a store made for it alone and said running
    servers would sign with the new key within 30 s; none could see it, so after a leak the leaked key
    went on signing. It now says the server must be restarted, and changes nothing."""
    result = twostep({**env, "TWOSTEP_STORAGE": "memory"}, "keys", "rotate")
    assert result.returncode == 2, result.stdout
    assert "new signing key" not in result.stdout
    assert "TWOSTEP_STORAGE=memory" in result.stderr and "restart the server" in result.stderr


def test_keys_rotate_warns_when_it_changes_the_algorithm(env: dict[str, str]) -> None:
    """A rotation to another algorithm said nothing of it: servers pinned to the old algorithm signed with
    the new key once it activated and refused their own tokens. It now says every server must move."""
    assert twostep(env, "storage", "init").returncode == 0
    same = twostep(env, "keys", "rotate")
    assert same.returncode == 0 and "changes the algorithm" not in same.stderr
    result = twostep({**env, "TWOSTEP_JWT_ALGORITHM": "ES256"}, "keys", "rotate")
    assert result.returncode == 0, result.stderr
    assert "changes the algorithm from RS256 to ES256" in result.stderr


def test_keys_rotate_makes_a_new_hs256_secret_the_deployments(env: dict[str, str]) -> None:
    """With TWOSTEP_JWT_HS256_SECRET, `keys rotate` said "change it there" and a changed setting made
    every command and server refuse to start: a leaked secret could not be replaced. Rotating with the
    new value now makes it the deployment's key, and the old value no longer starts anything."""
    old = {**env, "TWOSTEP_JWT_ALGORITHM": "HS256", "TWOSTEP_JWT_HS256_SECRET": "a" * 32}
    new = {**old, "TWOSTEP_JWT_HS256_SECRET": "b" * 32}
    assert twostep(old, "storage", "init").returncode == 0
    assert twostep(new, "users", "list").returncode == 2
    unchanged = twostep(old, "keys", "rotate")
    assert unchanged.returncode == 2 and "set a new secret" in unchanged.stderr
    rotated = twostep(new, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    assert "restart every process" in rotated.stdout
    assert twostep(new, "users", "list").returncode == 0
    refused = twostep(old, "users", "list")
    assert refused.returncode == 2 and "TWOSTEP_JWT_HS256_SECRET" in refused.stderr
    assert "a" * 32 not in refused.stderr + rotated.stdout  # named, never shown


def test_help_everywhere(env: dict[str, str]) -> None:
    for args in (["--help"], ["serve", "--help"], ["users", "--help"], ["sms", "outbox", "--help"]):
        result = twostep(env, *args)
        assert result.returncode == 0 and "Usage" in result.stdout


@pytest.mark.parametrize(
    "name",
    ["cli.db", "./cli.db", "cli.db-wal", "alias.db", "cli.db.master-key", "cli.db.master-key.previous"],
)
def test_storage_backup_refuses_to_replace_the_live_database(env: dict[str, str], name: str) -> None:
    """Before, `twostep storage backup cli.db` (the live database itself, by its name, a link to it, or
    its WAL) wrote the copy and then swapped it in for the file running servers were writing to: what
    they committed between the copy and the swap was lost; `cli.db.master-key` replaced the dev master
    key with the copy, and every key it opened was lost. Both are refused now, and the files left alone."""
    _create_user(env)
    live = Path(env["TWOSTEP_SQLITE_PATH"])
    (live.parent / "alias.db").symlink_to(live)
    inode, master_key = live.stat().st_ino, dev_master_key_path(live).read_bytes()
    result = twostep(env, "storage", "backup", name)
    assert result.returncode != 0, result.stdout
    assert "is the live database" in result.stderr and "give the copy another path" in result.stderr
    assert live.stat().st_ino == inode and dev_master_key_path(live).read_bytes() == master_key
    assert twostep(env, "storage", "backup", "copy.db").returncode == 0  # another path is copied
    with sqlite3.connect(live.parent / "copy.db") as copy:
        assert copy.execute("SELECT email FROM users").fetchall() == [("cli@example.com",)]


def test_storage_backup_over_an_earlier_copy_ignores_its_stale_wal(
    env: dict[str, str], tmp_path: Path
) -> None:
    """`twostep storage backup copy.db` over an earlier copy that a process had opened (to try the copy out)
    and left a `copy.db-wal` beside: the new copy was written and the old WAL kept, so SQLite replayed it
    into the new copy, which then held that process's writes and a corrupt index instead of the backup,
    while the command said "backed up". The journals of the replaced file are deleted with it now."""
    _create_user(env)
    copy = tmp_path / "copy.db"
    assert twostep(env, "storage", "backup", "copy.db").returncode == 0
    tried_out = (
        "import os, sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute('PRAGMA journal_mode=WAL');"
        "db.execute('PRAGMA wal_autocheckpoint=0'); db.execute(\"UPDATE users SET email='tried@example.com'\");"
        "db.commit(); os._exit(0)"  # ends without the checkpoint at close: the WAL stays beside the copy
    )
    subprocess.run([sys.executable, "-c", tried_out, str(copy)], check=True, timeout=60)
    assert (tmp_path / "copy.db-wal").stat().st_size > 0
    with sqlite3.connect(tmp_path / "cli.db") as live:
        live.execute("UPDATE users SET first_name = 'Later'")

    assert twostep(env, "storage", "backup", "copy.db").returncode == 0
    with sqlite3.connect(f"file:{copy}?mode=ro", uri=True) as db:
        assert db.execute("SELECT email, first_name FROM users").fetchall() == [("cli@example.com", "Later")]
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_storage_backup_onto_a_full_disk_says_so_and_leaves_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A backup whose disk filled answered "Storage is unavailable; try again shortly." (exit 4), blaming
    the live database, and left the copy's half-written rollback journal beside PATH. It now names the copy
    and the driver's error (exit 2) and leaves no file behind."""
    import resource
    import signal

    _create_user(env)
    with sqlite3.connect(tmp_path / "cli.db") as live:
        live.execute("CREATE TABLE filler (x BLOB)")
        live.executemany("INSERT INTO filler VALUES (randomblob(4000))", [()] * 500)  # 2 MB

    def small_disk() -> None:  # files of this process stop growing at 512 KiB, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (512 * 1024, 512 * 1024))

    (tmp_path / "backups").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "twostep", "storage", "backup", "backups/copy.db"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=small_disk,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "twostep: cannot write the backup backups/copy.db: " in result.stderr
    assert "Storage is unavailable" not in result.stderr
    assert list((tmp_path / "backups").iterdir()) == []


def test_two_backups_of_a_restored_copy_to_one_path_at_once_both_write_a_whole_copy(
    env: dict[str, str], tmp_path: Path
) -> None:
    """Two operators (a cron job and an operator) run `twostep storage backup copy.db` at once on a database
    restored from a backup, still in rollback-journal mode, so both switch it to WAL as they open it (see
    tests/storage/test_sqlite_connections.py). Both succeed, and PATH holds a whole copy, nothing beside."""
    _create_user(env)
    live = Path(env["TWOSTEP_SQLITE_PATH"])
    with contextlib.closing(sqlite3.connect(live)) as db:
        with db:
            db.execute("CREATE TABLE filler (x BLOB)")
            db.executemany("INSERT INTO filler VALUES (randomblob(4000))", [()] * 500)
        assert db.execute("PRAGMA journal_mode = DELETE").fetchone() == ("delete",)  # as restored
    command = [sys.executable, "-m", "twostep", "storage", "backup", "copy.db"]
    runs = [
        subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    answers = [(run.communicate(timeout=60)[1], run.returncode) for run in runs]
    assert [code for _, code in answers] == [0, 0], answers
    with contextlib.closing(sqlite3.connect(f"file:{tmp_path / 'copy.db'}?mode=ro", uri=True)) as copy:
        assert copy.execute("SELECT count(*) FROM filler").fetchone() == (500,)
        assert copy.execute("SELECT email FROM users").fetchall() == [("cli@example.com",)]
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert sorted(path.name for path in tmp_path.iterdir() if "copy" in path.name) == ["copy.db"]


def _rows(database: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        tables = ("users", "key_record", "schema_migrations")
        return [row for table in tables for row in db.execute(f"SELECT * FROM {table}")]


def test_a_backup_restored_without_its_master_key_starts_nothing(env: dict[str, str], tmp_path: Path) -> None:
    """docs/operations.md (Backups) said a lost master key lost the sessions and pending codes; no process
    starts on the database at all. The page now says so, with the line this checks, and the restored
    copy is left as it was."""
    staging = {**env, "TWOSTEP_STAGE": "staging", "TWOSTEP_MASTER_KEY": new_master_key()}
    _create_user(staging)
    assert twostep(staging, "storage", "backup", "copy.db").returncode == 0
    restored = tmp_path / "restored"
    restored.mkdir()
    (restored / "cli.db").write_bytes((tmp_path / "copy.db").read_bytes())
    before = _rows(restored / "cli.db")
    other = {
        **staging,
        "TWOSTEP_SQLITE_PATH": str(restored / "cli.db"),
        "TWOSTEP_MASTER_KEY": new_master_key(),
    }
    refused = twostep(other, "users", "list")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.startswith(
        "twostep: TWOSTEP_MASTER_KEY: the database's keys are sealed with another"
    )
    assert _rows(restored / "cli.db") == before


def test_sign_out_all_refuses_memory_storage(env: dict[str, str]) -> None:
    """`users sign-out-all` with memory storage would end the sessions of a store made for the command
    alone and report them ended; like `keys rotate`, it refuses with one line."""
    result = twostep({**env, "TWOSTEP_STORAGE": "memory"}, "users", "sign-out-all", "--yes")
    assert result.returncode == 2 and "TWOSTEP_STORAGE=memory" in result.stderr and result.stdout == ""


def test_users_list_reaches_every_account_a_page_at_a_time(env: dict[str, str]) -> None:
    """`users list` printed the first `--limit` accounts (at most 1,000) and had no way on: the storage
    pages by id, but the command dropped the cursor, so the rest of a deployment's 200,000 accounts could
    not be listed. `--after` now continues, and stderr names the next page while there is one."""
    from datetime import UTC, datetime

    from twostep.domain.models import User
    from twostep.storage.sqlite import SqliteStorage

    assert twostep(env, "storage", "init").returncode == 0
    storage = SqliteStorage(Path(env["TWOSTEP_SQLITE_PATH"]))
    try:
        for n in range(5):
            storage.add_user(User(f"user-{n}", f"u{n}@example.com", "hash", datetime(2026, 1, 1, tzinfo=UTC)))
    finally:
        storage.close()

    seen: list[str] = []
    args = ["users", "list", "--limit", "2", "--json"]
    for _ in range(5):
        result = twostep(env, *args)
        assert result.returncode == 0, result.stderr
        seen += [user["id"] for user in json.loads(result.stdout)]
        more = re.search(r"more: twostep users list --after (\S+)", result.stderr)
        if more is None:
            break
        args = ["users", "list", "--limit", "2", "--json", "--after", more.group(1)]
    assert seen == [f"user-{n}" for n in range(5)]


def test_email_outbox_finds_emails_behind_many_texts(env: dict[str, str]) -> None:
    """Without --to, `email outbox --last N` read the 10*N newest outbox entries and kept the emails among
    them: after more texts than that (a load test in staging), it printed nothing though emails were
    there. The storage now lists the email channel's newest itself."""
    from datetime import UTC, datetime

    from twostep.domain.models import OutboxEntry
    from twostep.storage.sqlite import SqliteStorage

    assert twostep(env, "storage", "init").returncode == 0
    storage = SqliteStorage(Path(env["TWOSTEP_SQLITE_PATH"]))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        storage.add_outbox(OutboxEntry("a@example.com", "your code", at, provider="email", channel="email"))
        for n in range(11):
            storage.add_outbox(OutboxEntry("+905555555555", f"text {n}", at))
    finally:
        storage.close()

    result = twostep(env, "email", "outbox", "--last", "1", "--json")
    assert result.returncode == 0, result.stderr
    assert [email["body"] for email in json.loads(result.stdout)] == ["your code"]


@contextlib.contextmanager
def _write_lock_held(database: str) -> Iterator[None]:
    """Another process's open write transaction (a `sqlite3` shell left in BEGIN, a long job)."""
    holder = sqlite3.connect(database, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_read_command_answers_while_another_process_holds_the_write_lock(env: dict[str, str]) -> None:
    """Every command took the write lock at its start to look for schema steps, and waited for it up to
    ten minutes, saying nothing: `twostep users list` hung while a `sqlite3` shell sat in a transaction.
    A current schema is now read without the lock."""
    assert twostep(env, "storage", "init").returncode == 0
    quick = {**env, "TWOSTEP_SQLITE_BUSY_TIMEOUT_MS": "500"}
    with _write_lock_held(env["TWOSTEP_SQLITE_PATH"]):
        listed = twostep(quick, "users", "list")
    assert listed.returncode == 0, listed.stderr


def test_a_write_command_on_a_locked_database_says_it_is_locked(env: dict[str, str]) -> None:
    """A command that must write, refused by the lock, said only "Storage is unavailable; try again
    shortly." (and first waited ten minutes); its one line now names the cause."""
    assert twostep(env, "storage", "init").returncode == 0
    quick = {**env, "TWOSTEP_SQLITE_BUSY_TIMEOUT_MS": "500"}
    with _write_lock_held(env["TWOSTEP_SQLITE_PATH"]):
        purged = twostep(quick, "storage", "purge")
    assert purged.returncode == 4
    assert purged.stderr.splitlines() == [
        "twostep: Storage is unavailable; try again shortly. Cause: locked (another writer holds the database)"
        " (SQLITE_BUSY)"
    ]


@pytest.mark.parametrize("target", ["", ".", "/"])
def test_storage_backup_to_a_path_without_a_file_name_is_one_line(env: dict[str, str], target: str) -> None:
    """`twostep storage backup "$BACKUP"` with the variable unset (an empty PATH), `.` or `/` ended in a
    ValueError traceback (a path with an empty name); it is refused like any other folder."""
    assert twostep(env, "storage", "init").returncode == 0
    refused = twostep(env, "storage", "backup", target)
    assert refused.returncode == 2
    assert len(refused.stderr.splitlines()) == 1
    assert refused.stderr.startswith("twostep: cannot write the backup ")
    assert "give the copy a file name" in refused.stderr


@pytest.mark.parametrize(
    ("args", "refusal"),
    [
        (("users", "delete", "u-1"), "twostep: not deleted"),
        (("users", "sign-out-all"), "twostep: no session ended"),
    ],
)
def test_a_question_nobody_answers_is_a_no_in_one_twostep_line(
    env: dict[str, str], args: tuple[str, ...], refusal: str
) -> None:
    """Run without --yes and without a terminal (a script, cron), the question met the end of its input
    and typer ended the command with a bare "Aborted!"; it is now the command's own refusal line."""
    assert twostep(env, "storage", "init").returncode == 0
    unanswered = twostep(env, *args, input_text="")
    assert unanswered.returncode == 1
    assert unanswered.stderr.splitlines() == [refusal]


@pytest.mark.parametrize(
    "args",
    [("sms", "outbox"), ("email", "outbox"), ("fraud", "status"), ("users", "list"), ("storage", "purge")],
)
def test_a_command_on_memory_storage_refuses_instead_of_reading_a_store_of_its_own(
    env: dict[str, str], args: tuple[str, ...]
) -> None:
    """With TWOSTEP_STORAGE=memory each command built a store for itself alone: `sms outbox` printed no
    texts and `fraud status` "no prefix is blocked" while the server's store held them, exit code 0."""
    refused = twostep({**env, "TWOSTEP_STORAGE": "memory"}, *args)
    assert refused.returncode == 2
    assert refused.stderr.splitlines() == [
        "twostep: TWOSTEP_STORAGE=memory: the records live in the server's own process, which this command "
        "cannot reach; use sqlite or postgres for a deployment you administer"
    ]

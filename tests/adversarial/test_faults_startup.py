"""Start-up faults end cleanly: the process exits non-zero with one clear line on stderr, no traceback.

Covers storage that cannot be opened (folder is a file, corrupt file), a corrupt or unreadable local
key file, a setting out of range, and, where their adapters exist, DynamoDB and Secrets Manager at a
closed loopback port."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.adversarial.faultkit import run_cli, server_env
from tests.live import PROD_WITHOUT_EMAIL, free_port


def one_line_failure(result: object, exit_code: int, *needles: str) -> str:
    """The command failed with `exit_code` and printed exactly one `twostep:` line naming `needles`."""
    stderr = result.stderr.strip()  # type: ignore[attr-defined]
    assert result.returncode == exit_code, (result.returncode, stderr)  # type: ignore[attr-defined]
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("twostep: ")
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def aws_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return server_env(
        tmp_path,
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_MAX_ATTEMPTS="2",
        AWS_RETRY_MODE="standard",
        **extra,
    )


def test_database_folder_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the folder should be")
    env = server_env(tmp_path, TWOSTEP_SQLITE_PATH=str(blocker / "twostep.db"))
    one_line_failure(run_cli(env, "storage", "init"), 2, "TWOSTEP_SQLITE_PATH", "is not a folder")


@pytest.mark.parametrize("workers", ["1", "2"])  # with 2, the app is checked in a child before any worker
@pytest.mark.parametrize(
    ("where", "cause"),
    [("folder", "is a folder"), ("missing/twostep.db", "its folder"), ("file/twostep.db", "is not a folder")],
)
def test_sqlite_path_that_cannot_hold_a_database(
    tmp_path: Path, workers: str, where: str, cause: str
) -> None:
    """Before, a folder as TWOSTEP_SQLITE_PATH stopped `twostep serve` with exit 4 (storage unavailable,
    "try again") and "unable to open database file", and a missing folder with "The database folder does
    not exist", neither naming the setting. Each is now one line naming TWOSTEP_SQLITE_PATH and the cause,
    exit 2 like every other bad setting, and nothing is made beside the path (no dev master key)."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("a file where the folder should be")
    env = server_env(tmp_path, TWOSTEP_SQLITE_PATH=str(tmp_path / where))
    before = sorted(tmp_path.iterdir())
    serve = ("serve", "--port", str(free_port()), "--workers", workers)
    one_line_failure(run_cli(env, *serve), 2, "TWOSTEP_SQLITE_PATH", str(tmp_path / where), cause)
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize("command", [("serve", "--workers", "2"), ("storage", "init")])
def test_sqlite_uri_as_the_path_is_refused(tmp_path: Path, command: tuple[str, ...]) -> None:
    """Before, TWOSTEP_SQLITE_PATH=file:twostep.db skipped the path's checks and SQLite opened it as the URI
    of ./twostep.db: the database (password hashes, sessions) was made 0644, readable by every local user,
    beside a dev master key named `file:twostep.db.master-key`; a missing folder in the URI was exit 4.
    A URI is now refused at start with one line (exit 2), and nothing is made."""
    before = sorted(tmp_path.iterdir())
    env = server_env(tmp_path, TWOSTEP_SQLITE_PATH="file:twostep.db")
    if command[0] == "serve":
        command = (*command, "--port", str(free_port()))
    result = run_cli(env, *command, cwd=tmp_path)
    one_line_failure(result, 2, "TWOSTEP_SQLITE_PATH", "file:twostep.db", "SQLite URI")
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    ("setting", "make", "cause"),
    [
        ("TWOSTEP_JWT_KEY_FILE", "folder", "Is a directory"),
        ("TWOSTEP_JWT_KEY_FILE", "binary", "not a twostep key file"),
        ("TWOSTEP_MASTER_KEY_FILE", "folder", "Is a directory"),
        ("TWOSTEP_MASTER_KEY_FILE", "binary", "not a text file"),
        ("TWOSTEP_MASTER_KEY_FILE", "missing", "No such file or directory"),
        ("TWOSTEP_VERIFY_API_KEYS_FILE", "folder", "Is a directory"),
        ("TWOSTEP_VERIFY_API_KEYS_FILE", "missing", "No such file or directory"),
        ("TWOSTEP_VERIFY_API_KEYS_FILE", "binary", "not UTF-8 text"),
    ],
)
def test_a_key_file_setting_names_why_it_cannot_be_read(
    tmp_path: Path, setting: str, make: str, cause: str
) -> None:
    """Before, a folder as TWOSTEP_JWT_KEY_FILE said only "cannot read key file <path>", and a master key
    file that is not text "UnicodeDecodeError"; a TWOSTEP_VERIFY_API_KEYS_FILE that is not UTF-8 was a traceback
    (exit 1), and one that cannot be read did not name its path. Each now names setting, path and cause."""
    path = tmp_path / "secret"
    if make == "folder":
        path.mkdir()
    elif make == "binary":
        path.write_bytes(b"\xff\xfe\x00not text")
    env = server_env(tmp_path, **{setting: str(path)})
    one_line_failure(run_cli(env, "serve", "--port", str(free_port())), 2, setting, str(path), cause)


def test_corrupt_database_file(tmp_path: Path) -> None:
    env = server_env(tmp_path)
    Path(env["TWOSTEP_SQLITE_PATH"]).write_bytes(b"this is not an SQLite database\x00" * 200)
    one_line_failure(run_cli(env, "storage", "init"), 4, env["TWOSTEP_SQLITE_PATH"])


@pytest.mark.parametrize("workers", ["1", "2"])  # with 2, the app is checked in a child before any worker
def test_serve_with_a_corrupt_key_file_exits_cleanly(tmp_path: Path, workers: str) -> None:
    env = server_env(tmp_path)
    Path(env["TWOSTEP_JWT_KEY_FILE"]).write_text('{"keys": [ this is not json')
    serve = ("serve", "--port", str(free_port()), "--workers", workers)
    one_line_failure(run_cli(env, *serve), 2, "TWOSTEP_JWT_KEY_FILE")


@pytest.mark.parametrize("workers", ["1", "2"])  # with 2, the app is checked in a child before any worker
def test_prod_api_with_the_console_email_provider_stops_at_start(tmp_path: Path, workers: str) -> None:
    """The refusal moved from the settings (which refused it for the verification app too, which sends
    no email) to where the API is built: a prod API server still stops at start with the same line."""
    env = server_env(tmp_path, **PROD_WITHOUT_EMAIL)
    serve = ("serve", "--port", str(free_port()), "--workers", workers)
    one_line_failure(
        run_cli(env, *serve), 2, "TWOSTEP_EMAIL_PROVIDER: the console provider is refused in prod"
    )


def test_unreadable_key_file(tmp_path: Path) -> None:
    env = server_env(tmp_path)
    Path(env["TWOSTEP_JWT_KEY_FILE"]).mkdir()  # unreadable as a file, even for root
    one_line_failure(run_cli(env, "storage", "init"), 2, "TWOSTEP_JWT_KEY_FILE")


def test_master_key_file_cannot_be_read(tmp_path: Path) -> None:
    """Was a FileExistsError traceback when the key file's folder was a file; keys live in the database now,
    sealed with a master key read from a file that here cannot be read."""
    blocker = tmp_path / "keys"
    blocker.write_text("a file where the folder should be")
    env = server_env(tmp_path, TWOSTEP_MASTER_KEY_FILE=str(blocker / "master.key"))
    one_line_failure(run_cli(env, "serve", "--port", str(free_port())), 2, "TWOSTEP_MASTER_KEY_FILE")
    one_line_failure(run_cli(env, "keys", "rotate"), 2, "TWOSTEP_MASTER_KEY_FILE")


def test_busy_timeout_out_of_range(tmp_path: Path) -> None:
    env = server_env(tmp_path, TWOSTEP_SQLITE_BUSY_TIMEOUT_MS="0")
    one_line_failure(run_cli(env, "storage", "init"), 2, "TWOSTEP_SQLITE_BUSY_TIMEOUT_MS")


def test_dynamodb_endpoint_down(tmp_path: Path) -> None:
    env = aws_env(tmp_path, TWOSTEP_STORAGE="dynamodb", TWOSTEP_DYNAMODB_TABLE="twostep-faults")
    one_line_failure(run_cli(env, "storage", "init"), 4)


def test_secret_store_unreachable(tmp_path: Path) -> None:
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:twostep-faults"
    env = aws_env(tmp_path, TWOSTEP_SECRET_ARN=arn)
    line = one_line_failure(run_cli(env, "serve", "--port", str(free_port())), 4)
    assert "testing" not in line  # no credential in the message

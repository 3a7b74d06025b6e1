"""The CLI guides a newcomer: version, clean help, `.env` like the server, no surprise databases,
one-line errors with documented exit codes, and an issuer that follows `--port`."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer

from tests.live import ServerProcess, free_port, run_cli, server_env
from twostep.cli import app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """No TWOSTEP_* or AWS region from the developer's shell; storage and keys in `tmp_path`."""
    values = server_env(tmp_path)
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"):
        values.pop(name, None)
    values["AWS_CONFIG_FILE"] = str(tmp_path / "no-aws-config")
    return values


def one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("twostep: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_version_is_the_package_version(env: dict[str, str]) -> None:
    result = run_cli(env, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"twostep {version('twostep')}"


def _commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group (typer ships its own click)
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_option_help_has_no_type_placeholders(env: dict[str, str]) -> None:
    commands = _commands(typer.main.get_command(app))
    assert ("serve",) in commands and ("keys", "rotate") in commands
    for path in commands:
        result = run_cli(env, *path, "--help")
        assert result.returncode == 0, result.stderr
        options = [line for line in result.stdout.splitlines() if line.lstrip().startswith("--")]
        assert options, path
        placeholders = [line for line in options if re.search(r"<\w[^>]*>", line)]
        assert not placeholders, (path, placeholders)


def test_admin_commands_refuse_to_create_a_database(env: dict[str, str], tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env.pop("TWOSTEP_SQLITE_PATH")
    env.pop("TWOSTEP_JWT_KEY_FILE")
    for args in (
        ["users", "list"],
        ["sms", "outbox"],
        ["email", "outbox"],
        ["audit", "tail"],
        ["keys", "rotate"],
        ["fraud", "status"],
        ["storage", "purge"],
        ["storage", "backup", str(tmp_path / "backup.db")],
        # Before, `storage migrate` made an empty database there and said it applied every schema step.
        ["storage", "migrate"],
    ):
        line = one_line_error(run_cli(env, *args, cwd=elsewhere), 3)
        assert "twostep storage init" in line
    assert list(elsewhere.iterdir()) == [], "nothing may be created where no database exists"

    assert run_cli(env, "storage", "init", cwd=elsewhere).returncode == 0
    # the keys live in the database, sealed with the dev master key kept beside it (never a key file)
    assert (elsewhere / "twostep.db").exists() and (elsewhere / "twostep.db.master-key").exists()
    assert not (elsewhere / "twostep-keys.json").exists()
    assert run_cli(env, "users", "list", cwd=elsewhere).returncode == 0


def test_cli_reads_dot_env_like_the_server(env: dict[str, str], tmp_path: Path) -> None:
    env.pop("TWOSTEP_SQLITE_PATH")
    (tmp_path / ".env").write_text("TWOSTEP_SQLITE_PATH=from-dot-env.db\nTWOSTEP_OTP_LENGTH=99\n")
    line = one_line_error(run_cli(env, "storage", "init", cwd=tmp_path), 2)
    assert line == "twostep: TWOSTEP_OTP_LENGTH: Input should be less than or equal to 10"
    (tmp_path / ".env").write_text("TWOSTEP_SQLITE_PATH=from-dot-env.db\n")
    assert run_cli(env, "storage", "init", cwd=tmp_path).returncode == 0
    assert (tmp_path / "from-dot-env.db").exists()


def test_make_run_leaves_settings_to_the_environment_and_dot_env() -> None:
    """`make run` must not pass TWOSTEP_* values that would silently win over `.env`."""
    dry = subprocess.run(
        ["make", "-n", "run", "PORT=8123"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    serve_line = next(line for line in dry.splitlines() if "twostep serve" in line)
    assert "TWOSTEP_" not in serve_line and "--port 8123" in serve_line


def test_dynamodb_without_a_region_is_one_line(env: dict[str, str]) -> None:
    env["TWOSTEP_STORAGE"] = "dynamodb"
    line = one_line_error(run_cli(env, "users", "list"), 2)
    assert (
        line
        == "twostep: TWOSTEP_STORAGE=dynamodb needs an AWS region: set AWS_REGION (e.g. AWS_REGION=eu-west-1)"
    )


def test_dynamodb_without_boto3_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    blocker = tmp_path / "no_boto3"
    for name in ("boto3", "botocore"):
        (blocker / name).mkdir(parents=True)
        (blocker / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError('no {name}', name='{name}')\n"
        )
    env["PYTHONPATH"] = os.pathsep.join([str(blocker), env["PYTHONPATH"]])
    env |= {"TWOSTEP_STORAGE": "dynamodb", "AWS_REGION": "eu-west-1"}
    line = one_line_error(run_cli(env, "storage", "init"), 2)
    assert "needs boto3" in line and "pip install 'twostep[aws]'" in line


def test_sns_reads_aws_region(env: dict[str, str]) -> None:
    """The README's SNS example: AWS_REGION alone (boto3 reads only AWS_DEFAULT_REGION) is enough."""
    env |= {"TWOSTEP_SMS_PROVIDERS": "sns", "TWOSTEP_SNS_SENDER_ID": "twostep"}
    assert "AWS_REGION" in one_line_error(run_cli(env, "storage", "init"), 2)
    env["AWS_REGION"] = "eu-west-1"
    result = run_cli(env, "storage", "init")
    assert result.returncode == 0, result.stderr


def test_address_in_use_is_not_exit_3(env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(env, "serve", "--port", str(port), timeout=60)
    line = one_line_error(result, 4)
    assert f"cannot listen on 127.0.0.1:{port}" in line and "--port" in line


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="this host has no IPv6 loopback")
def test_serve_takes_an_ipv6_address_in_brackets(tmp_path: Path) -> None:
    """`--host [::1]`, as an IPv6 address is written in a URL, stopped with exit 4 and "Name or service
    not known; stop the other server or pick --port". It serves on ::1, its issuer `http://[::1]:PORT`."""
    server = ServerProcess(tmp_path, env=server_env(tmp_path), serve_args=("--host", "[::1]"))
    server.base_url = f"http://[::1]:{server.port}"  # where it waits for the server to answer
    with server:
        answer = httpx.get(f"{server.base_url}/.well-known/openid-configuration")
        assert answer.json()["issuer"] == server.base_url


def test_serve_names_a_host_that_is_no_address(env: dict[str, str]) -> None:
    """A --host that no name lookup finds is a mistake in the command, not a busy port: exit 2, naming it."""
    result = run_cli(env, "serve", "--host", "no-such-host.invalid", "--port", "8", timeout=60)
    line = one_line_error(result, 2)
    assert "--host no-such-host.invalid" in line and "stop the other server" not in line


UNASSIGNED = "198.51.100.77"  # TEST-NET-2: an address no interface of a test machine has


def unassigned_address_refused() -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((UNASSIGNED, 0))
        except OSError:
            return True
    return False  # the host binds any address (net.ipv4.ip_nonlocal_bind)


@pytest.mark.skipif(not unassigned_address_refused(), reason="this host binds addresses it does not have")
@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_names_an_address_this_host_does_not_have(env: dict[str, str], workers: str) -> None:
    """Before: "cannot listen on 198.51.100.77:8000: Cannot assign requested address; stop the other
    server or pick --port", advice about the port for a mistake in the address."""
    result = run_cli(env, "serve", "--host", UNASSIGNED, "--workers", workers, timeout=60)
    line = one_line_error(result, 4)
    assert f"cannot listen on {UNASSIGNED}:8000" in line and "--host" in line, line
    assert "stop the other server" not in line, line


def test_serve_refuses_workers_on_memory_storage(env: dict[str, str]) -> None:
    """`twostep serve --workers 2` with TWOSTEP_STORAGE=memory started two workers with a storage each: a
    retry with the same Idempotency-Key that reached the other worker texted the code again (and a
    sign-in started on one was unknown to the other). It now stops at start with one line."""
    result = run_cli(
        env | {"TWOSTEP_STORAGE": "memory"}, "serve", "--port", str(free_port()), "--workers", "2", timeout=30
    )
    assert "TWOSTEP_STORAGE=memory lives in one process" in one_line_error(result, 2)


def test_issuer_follows_port_unless_set(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "a", env=server_env(tmp_path / "a")) as server:
        issuer = httpx.get(f"{server.base_url}/.well-known/openid-configuration").json()["issuer"]
        assert issuer == server.base_url
    pinned = server_env(tmp_path / "b") | {"TWOSTEP_ISSUER": "https://auth.example.com"}
    with ServerProcess(tmp_path / "b", env=pinned) as server:
        issuer = httpx.get(f"{server.base_url}/.well-known/openid-configuration").json()["issuer"]
        assert issuer == "https://auth.example.com"


def test_serve_outside_dev_warns_when_tokens_name_the_listening_address(tmp_path: Path) -> None:
    """Behind a proxy or in the container the listening address is no URL a client or verifier knows."""
    warning = "TWOSTEP_ISSUER is not set"
    staging = server_env(tmp_path / "a") | {"TWOSTEP_STAGE": "staging", "TWOSTEP_MASTER_KEY": "k" * 32}
    with ServerProcess(tmp_path / "a", env=staging) as server:
        assert warning in server.log_tail() and server.base_url in server.log_tail()
    with ServerProcess(tmp_path / "w", env=staging, serve_args=("--workers", "2")) as server:
        assert server.log_tail().count(warning) == 1  # the supervisor says it, not each worker
    pinned = staging | {"TWOSTEP_ISSUER": "https://auth.example.com"}
    with ServerProcess(tmp_path / "b", env=pinned) as server:
        assert warning not in server.log_tail()
    with ServerProcess(tmp_path / "c", env=server_env(tmp_path / "c")) as server:  # dev: as it should be
        assert warning not in server.log_tail()


def test_keys_rotate_says_when_servers_use_the_new_key(env: dict[str, str]) -> None:
    assert run_cli(env, "storage", "init").returncode == 0
    result = run_cli(env, "keys", "rotate")
    assert result.returncode == 0, result.stderr
    assert "running servers publish it within 30 s and sign with it from" in result.stdout


def test_ses_without_a_region_is_one_line(env: dict[str, str]) -> None:
    env["TWOSTEP_EMAIL_PROVIDER"] = "ses"
    line = one_line_error(run_cli(env, "storage", "init"), 2)
    assert (
        line
        == "twostep: TWOSTEP_EMAIL_PROVIDER=ses needs an AWS region: set AWS_REGION (e.g. AWS_REGION=eu-west-1)"
    )


def test_serve_refuses_workers_on_an_sqlite_memory_database(env: dict[str, str]) -> None:
    """`twostep serve --workers 2` with TWOSTEP_SQLITE_PATH=:memory: started two workers with a database
    each, and since the master key of such a database is a random one per process, a key set each: a
    token signed by one worker was refused by the other, and a sign-in started on one was unknown to the
    other. It now stops at start with one line, as memory storage does."""
    memory_database = env | {"TWOSTEP_STORAGE": "sqlite", "TWOSTEP_SQLITE_PATH": ":memory:"}
    result = run_cli(memory_database, "serve", "--port", str(free_port()), "--workers", "2", timeout=30)
    assert "TWOSTEP_SQLITE_PATH=:memory: lives in one process" in one_line_error(result, 2)

"""`TWOSTEP_STORAGE=postgres` as an operator meets it: the URL is required, and never shown."""

from __future__ import annotations

import tomllib
from pathlib import Path

import psycopg
import pytest

from tests.live import run_cli, server_env
from twostep.domain.errors import ConfigurationError
from twostep.storage.postgres_connection import MIN_PSYCOPG, PostgresConnections

ROOT = Path(__file__).resolve().parents[2]

PASSWORD_IN_URL = "s3cret-pw-never-shown"


def test_an_unreachable_server_stops_the_command_naming_the_host_not_the_password(tmp_path: Path) -> None:
    url = f"postgresql://twostep:{PASSWORD_IN_URL}@127.0.0.1:1/twostep"
    env = server_env(
        tmp_path, TWOSTEP_STORAGE="postgres", TWOSTEP_DATABASE_URL=url, TWOSTEP_DATABASE_TIMEOUT_SECONDS="2"
    )
    result = run_cli(env, "storage", "migrate", cwd=tmp_path)
    assert result.returncode == 4, result.stdout + result.stderr
    assert "127.0.0.1:1/twostep" in result.stderr
    assert PASSWORD_IN_URL not in result.stdout + result.stderr


def test_a_bare_at_sign_in_the_password_is_refused_without_showing_the_password(tmp_path: Path) -> None:
    """libpq ends the password at its first `@` and reads the rest as the host: every command and the
    server then logged psycopg_pool's "failed to resolve host 's3cret-pw-never-shown@127.0.0.1'" on each
    try and failed naming that host, the password's tail in both. The URL is now refused as unreadable."""
    url = f"postgresql://twostep:first@{PASSWORD_IN_URL}@127.0.0.1:1/twostep"
    env = server_env(
        tmp_path, TWOSTEP_STORAGE="postgres", TWOSTEP_DATABASE_URL=url, TWOSTEP_DATABASE_TIMEOUT_SECONDS="2"
    )
    result = run_cli(env, "storage", "migrate", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "not a URL PostgreSQL can read" in result.stderr
    assert PASSWORD_IN_URL not in result.stdout + result.stderr


def test_postgres_storage_needs_a_postgresql_url(tmp_path: Path) -> None:
    missing = run_cli(server_env(tmp_path, TWOSTEP_STORAGE="postgres"), "storage", "migrate", cwd=tmp_path)
    assert missing.returncode != 0
    assert "TWOSTEP_DATABASE_URL is needed when TWOSTEP_STORAGE=postgres" in missing.stderr
    wrong = run_cli(
        server_env(
            tmp_path, TWOSTEP_STORAGE="postgres", TWOSTEP_DATABASE_URL=f"mysql://u:{PASSWORD_IN_URL}@h/db"
        ),
        "storage",
        "migrate",
        cwd=tmp_path,
    )
    assert "TWOSTEP_DATABASE_URL must start with postgresql://" in wrong.stderr
    assert PASSWORD_IN_URL not in wrong.stdout + wrong.stderr


def test_a_psycopg_without_the_bound_on_a_reply_is_refused_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pyproject.toml allowed psycopg 3.2, whose `Connection.wait` takes no timeout (3.3.6 added it and
    `_WaitTimeout`, which the bound on a reply uses). Before, with such a psycopg installed (pip keeps it on
    an upgrade), every connection's set-up failed ("module 'psycopg.errors' has no attribute
    '_WaitTimeout'"), the pool never connected and each start stopped after the timeout with "couldn't get
    a connection"; the storage now refuses at once, naming the version it needs."""
    monkeypatch.delattr(psycopg.errors, "_WaitTimeout")
    monkeypatch.setattr(psycopg, "__version__", "3.2.13")
    with pytest.raises(ConfigurationError) as refused:
        PostgresConnections("postgresql://twostep@127.0.0.1:1/twostep")
    assert str(refused.value) == (
        "TWOSTEP_STORAGE=postgres needs psycopg 3.3.6 or later (installed: 3.2.13); "
        "pip install --upgrade 'psycopg[binary,pool]>=3.3.6'"
    )


def test_the_package_asks_for_the_psycopg_the_storage_needs() -> None:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    psycopg_requirement = next(d for d in dependencies if d.startswith("psycopg["))
    assert psycopg_requirement == f"psycopg[binary,pool]>={MIN_PSYCOPG}"
    assert hasattr(psycopg.errors, "_WaitTimeout")  # the installed one, as the tests run it

"""What every `twostep` command shares: exit codes, one-line errors, settings, and the storage guard.

Exit codes: `EXIT_CODES` (the CLI reference lists them from there). No typer here: `twostep serve` runs
without it (cli_entry), and typer's exit handling turns a `SystemExit` into the same exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NoReturn

from pydantic import ValidationError

from twostep.domain.errors import ConfigurationError, DependencyUnavailable, NotFound, TwoStepError
from twostep.settings import Settings, describe_validation_error, load_settings

PLAIN_HELP: dict[str, Any] = {"no_args_is_help": True, "rich_markup_mode": None}  # no <type> placeholders
EXIT_REFUSED = 1
EXIT_CONFIGURATION = 2
EXIT_NOT_FOUND = 3
EXIT_UNAVAILABLE = 4
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "success"),
    (EXIT_REFUSED, "twostep refused, or the server could not start"),
    (EXIT_CONFIGURATION, "configuration: a setting, a missing driver such as boto3, no AWS region"),
    (EXIT_NOT_FOUND, "not found: a user, the database, the key file"),
    (
        EXIT_UNAVAILABLE,
        "unavailable: a dependency such as storage, SMS or the secret store, or the address to listen on",
    ),
)


def package_version() -> str:
    try:
        return version("twostep")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def fail(message: str, code: int = EXIT_REFUSED) -> NoReturn:
    sys.stderr.write(f"twostep: {message}\n")
    sys.stderr.flush()
    raise SystemExit(code)


def settings_or_exit(**overrides: Any) -> Settings:
    """Settings from the environment and `.env` in the working directory, exactly as `twostep serve`."""
    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        fail(describe_validation_error(exc), EXIT_CONFIGURATION)


@contextmanager
def friendly_errors() -> Iterator[None]:
    try:
        yield
    except ConfigurationError as exc:
        fail(exc.message, EXIT_CONFIGURATION)
    except NotFound as exc:
        fail(exc.message, EXIT_NOT_FOUND)
    except DependencyUnavailable as exc:
        fail(_naming_the_cause(exc), EXIT_UNAVAILABLE)
    except TwoStepError as exc:
        fail(exc.message, EXIT_REFUSED)


def _naming_the_cause(error: DependencyUnavailable) -> str:
    """The error's line, with the driver's cause when the line is the generic one: an operator whose
    command met a locked or read-only database was told only that storage was unavailable, not why."""
    if error.__cause__ is None or error.message != type(error).default_message:
        return error.message
    from twostep.api.causes import describe_cause

    return f"{error.message} Cause: {describe_cause(error)}"


def refuse_missing_database(settings: Settings) -> None:
    """An admin command run from the wrong folder must not make an empty database (and keys) there."""
    if settings.storage == "sqlite" and not settings.sqlite_path.exists():
        fail(
            f"no database at {settings.sqlite_path.resolve()}; run this where twostep keeps its data, "
            "set TWOSTEP_SQLITE_PATH, or create it with `twostep storage init`",
            EXIT_NOT_FOUND,
        )


def refuse_memory_storage(settings: Settings) -> None:
    """A command would read and change a store made for it alone: `sms outbox` showed no texts and
    `fraud status` said no prefix was blocked while the server's own store held them."""
    if settings.storage == "memory":
        fail(
            "TWOSTEP_STORAGE=memory: the records live in the server's own process, which this command "
            "cannot reach; use sqlite or postgres for a deployment you administer",
            EXIT_CONFIGURATION,
        )


def _files_a_start_creates(database: Path) -> tuple[Path, ...]:
    """The SQLite database, its companions and the dev master key beside it."""
    from twostep.secrets.master_key import dev_master_key_path

    companions = (database.with_name(database.name + suffix) for suffix in ("-wal", "-shm", "-journal"))
    return (database, *companions, dev_master_key_path(database))


@contextmanager
def removed_if_failed(settings: Settings) -> Iterator[None]:
    """A new SQLite database (and its files) made inside, deleted again when that fails: left behind, the
    admin commands, which refuse a missing database, would act on an empty one (`storage init` in staging
    without a master key creates the tables before it finds the key missing)."""
    if settings.storage != "sqlite" or settings.sqlite_path.exists():
        yield
        return
    existing = {path for path in _files_a_start_creates(settings.sqlite_path) if path.exists()}
    try:
        yield
    except BaseException:
        for path in _files_a_start_creates(settings.sqlite_path):
            if path not in existing:
                with suppress(OSError):  # never in place of the start's own failure (a file as the folder)
                    path.unlink()
        raise


@contextmanager
def container_for(settings: Settings | None = None, *, create: bool = False) -> Iterator[Any]:
    """The wired services; unless `create`, refuses to start from a SQLite file that does not exist."""
    from twostep.container import build

    settings = settings or settings_or_exit()
    if not create:
        refuse_missing_database(settings)
        refuse_memory_storage(settings)
    with friendly_errors():
        container = build(settings)
        try:
            yield container
        finally:
            container.close()


def issuer_for(settings: Settings, host: str, port: int) -> Settings:
    """Without TWOSTEP_ISSUER, tokens name the address the server really listens on."""
    if "issuer" in settings.model_fields_set:
        return settings
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host  # noqa: S104
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return settings.model_copy(update={"issuer": f"http://{shown}:{port}"})

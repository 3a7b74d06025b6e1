"""The `twostep` command: serve, storage, users, keys, sms outbox, audit.

Every failure prints one clear line on stderr and exits non-zero: 2 for configuration, 3 for not found,
4 for an unavailable dependency, 1 for anything else twostep refuses.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError

from twostep.domain.errors import ConfigurationError, DependencyUnavailable, NotFound, TwoStepError
from twostep.domain.identity import mask_phone, parse_phone
from twostep.settings import Settings, describe_validation_error, load_settings

app = typer.Typer(
    help="twostep: password sign-in with a one-time code by SMS.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
storage_app = typer.Typer(help="Storage administration.", no_args_is_help=True)
users_app = typer.Typer(help="User administration.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)
sms_app = typer.Typer(help="SMS tools.", no_args_is_help=True)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
for sub, name in (
    (storage_app, "storage"),
    (users_app, "users"),
    (keys_app, "keys"),
    (sms_app, "sms"),
    (audit_app, "audit"),
):
    app.add_typer(sub, name=name)


class AppChoice(StrEnum):
    api = "api"
    verification = "verification"


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"twostep: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except ValidationError as exc:
        fail(describe_validation_error(exc), 2)


@contextmanager
def friendly_errors() -> Iterator[None]:
    try:
        yield
    except ConfigurationError as exc:
        fail(exc.message, 2)
    except NotFound as exc:
        fail(exc.message, 3)
    except DependencyUnavailable as exc:
        fail(exc.message, 4)
    except TwoStepError as exc:
        fail(exc.message, 1)


@contextmanager
def container_for(settings: Settings | None = None) -> Iterator[Any]:
    from twostep.container import build

    with friendly_errors():
        container = build(settings or settings_or_exit())
        try:
            yield container
        finally:
            container.close()


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    app_name: Annotated[
        AppChoice,
        typer.Option("--app", help="api: everything; verification: only the SMS verification API, at /."),
    ] = AppChoice.api,
    workers: Annotated[
        int,
        typer.Option(
            help="Worker processes (each with its own storage connections); one uses no supervisor.",
            min=1,
            max=64,
        ),
    ] = 1,
) -> None:
    """Run the HTTP service (prepares the storage and the shared keys on first start).

    SIGTERM stops accepting connections, lets the requests in flight finish (up to
    TWOSTEP_SHUTDOWN_TIMEOUT_SECONDS) and closes the storage (SQLite: the WAL is checkpointed).
    """
    import uvicorn

    from twostep.api.edge import uvicorn_options
    from twostep.api.factory import FACTORIES, build_asgi_app
    from twostep.logs import configure_logging

    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.log_format)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "timeout_graceful_shutdown": settings.shutdown_timeout_seconds,
        **uvicorn_options(settings),  # proxy trust, slow-client deadlines, no access log
    }
    with friendly_errors():
        asgi = build_asgi_app(settings, app_name.value)
    if workers == 1:
        uvicorn.run(asgi, **options)
        return
    # Built once here to check the configuration and prepare storage and keys before any worker starts,
    # so a mistake is one line from this process instead of N workers failing; each worker builds its own.
    asgi.state.container.close()
    uvicorn.run(FACTORIES[app_name.value], factory=True, workers=workers, **options)


@storage_app.command("init")
def storage_init() -> None:
    """Create the tables (SQLite) or the table (DynamoDB) where missing; safe to run again."""
    settings = settings_or_exit()
    with container_for(settings):
        typer.echo(f"storage ready ({settings.storage})")


@storage_app.command("migrate")
def storage_migrate() -> None:
    """Apply pending schema migrations (every start does too); safe to run again, and from two hosts at once."""
    from twostep.container import migrate_storage

    settings = settings_or_exit()
    with friendly_errors():
        applied = migrate_storage(settings)
    if applied:
        typer.echo(f"applied schema version(s) {', '.join(map(str, applied))} ({settings.storage})")
    else:
        typer.echo(f"schema already current ({settings.storage})")


def _user_row(user: Any) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "phone": mask_phone(user.phone) if user.phone else None,
        "createdAt": user.created_at.isoformat(),
    }


@users_app.command("list")
def users_list(
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List users (phone numbers masked)."""
    with container_for() as container:
        rows = [_user_row(user) for user in container.account.list(limit).items]
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['id']}  {row['email']}  {row['phone'] or '-'}  {row['createdAt']}")


@users_app.command("show")
def users_show(user_id: str) -> None:
    """Show one user as JSON."""
    with container_for() as container:
        _print_json(_user_row(container.account.get(user_id)))


@users_app.command("delete")
def users_delete(
    user_id: str, yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False
) -> None:
    """Delete a user: end every session, erase personal data (messages keep a neutral author)."""
    if not yes and not typer.confirm(f"Delete user {user_id}?"):
        fail("not deleted", 1)
    with container_for() as container:
        pseudonym = container.account.delete(user_id)
    typer.echo(f"deleted {user_id} (the audit trail now calls it {pseudonym})")


@users_app.command("lock")
def users_lock(user_id: str) -> None:
    """Lock a user: every session ends at once and signing in is refused until `users unlock`."""
    with container_for() as container:
        ended = container.account.lock(user_id)
    typer.echo(f"locked {user_id}; {ended} session(s) ended")


@users_app.command("unlock")
def users_unlock(user_id: str) -> None:
    """Lift an administrative lock and reset the wrong-code count after the second factor locked."""
    with container_for() as container:
        container.account.unlock(user_id)
    typer.echo(f"unlocked {user_id}")


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Make a new signing key; the previous public key stays in the JWKS until its tokens expire."""
    from twostep.domain.clock import SystemClock
    from twostep.secrets.local import LocalKeyFile

    settings = settings_or_exit()
    with friendly_errors():
        if settings.secret_arn:  # AWS: rotate the secret's value (needs secretsmanager:PutSecretValue)
            from twostep.secrets.aws import SecretsManagerKeys

            source = SecretsManagerKeys.from_settings(settings)
            material = source.rotate(SystemClock(), settings.jwt_algorithm, settings.jwt_rsa_bits)
        else:
            key_file = LocalKeyFile(settings.jwt_key_file, settings.jwt_algorithm, settings.jwt_rsa_bits)
            material = key_file.rotate(SystemClock())
    typer.echo(
        f"new signing key {material.current.kid} ({material.current.algorithm}); "
        f"{len(material.signing_keys) - 1} previous key(s) kept for verification"
    )


@keys_app.command("generate")
def keys_generate(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the key material JSON (the default).")
    ] = True,
    extra: Annotated[
        list[str] | None,
        typer.Option("--extra", help="NAME=VALUE kept in the secret's `extra` (SMS provider credentials)."),
    ] = None,
) -> None:
    """Print fresh key material (the value of the Secrets Manager secret on AWS); stores nothing."""
    from dataclasses import replace

    from twostep.domain.clock import SystemClock
    from twostep.domain.keys import KeyMaterial

    del as_json  # JSON is the only format: the output is meant for `--secret-string file://…`
    settings = settings_or_exit()
    pairs = [item.partition("=") for item in extra or []]
    if any(not name or not sep for name, sep, _ in pairs):
        fail("--extra takes NAME=VALUE", 2)
    material = KeyMaterial.generate(settings.jwt_algorithm, SystemClock().now(), settings.jwt_rsa_bits)
    typer.echo(replace(material, extra={name: value for name, _, value in pairs}).to_json())


@sms_app.command("outbox")
def sms_outbox(
    to: Annotated[str | None, typer.Option(help="Only messages to this number (E.164).")] = None,
    last: Annotated[int, typer.Option(min=1, max=1000, help="How many of the newest.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: [{to, body, sent_at}].")] = False,
) -> None:
    """Messages the console provider kept (dev and staging only)."""
    settings = settings_or_exit()
    if settings.stage == "prod":
        fail("the outbox is a development tool and is refused when TWOSTEP_STAGE=prod", 1)
    with friendly_errors():
        number = parse_phone(to, field="to") if to else None
    with container_for(settings) as container:
        entries = container.storage.list_outbox(to=number, last=last)
    if as_json:
        _print_json([{**asdict(e), "sent_at": e.sent_at.isoformat()} for e in entries])
        return
    for entry in entries:
        typer.echo(f"{entry.sent_at.isoformat()}  {entry.to}\n{entry.body}\n")


@audit_app.command("tail")
def audit_tail(
    user: Annotated[str | None, typer.Option(help="Only events of this user id.")] = None,
    last: Annotated[int, typer.Option(min=1, max=10000)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The newest audit events, oldest first."""
    with container_for() as container:
        events = container.audit.tail(user_id=user, limit=last)
    rows = [{**asdict(e), "at": e.at.isoformat()} for e in events]
    if as_json:
        _print_json(rows)
        return
    for row in rows:
        detail = " ".join(f"{k}={v}" for k, v in row["detail"].items())
        typer.echo(
            f"{row['at']}  {row['event']:<22} user={row['user_id'] or '-'} ip={row['ip'] or '-'} {detail}"
        )


def main(argv: list[str] | None = None) -> None:
    run: Callable[..., Any] = app
    try:
        run(args=argv, prog_name="twostep")
    except KeyboardInterrupt:
        sys.exit(130)

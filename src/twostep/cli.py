"""The `twostep` command: serve, storage, users, keys, sms outbox, audit, fraud.

Every failure prints one clear line on stderr and exits non-zero (codes in `cli_support`). Commands read
settings exactly as the server does (environment, then `.env` in the working directory).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from twostep.cli_fraud import fraud_app
from twostep.cli_outbox import email_app, sms_app
from twostep.cli_storage import register as register_storage_commands
from twostep.cli_support import (
    PLAIN_HELP,
    container_for,
    fail,
    friendly_errors,
    package_version,
    refuse_missing_database,
    removed_if_failed,
    settings_or_exit,
)
from twostep.domain.identity import mask_email, mask_phone

if TYPE_CHECKING:
    from twostep.settings import Settings

app = typer.Typer(
    pretty_exceptions_enable=False,
    add_completion=False,
    **PLAIN_HELP,
)
storage_app = typer.Typer(help="Storage administration.", **PLAIN_HELP)
users_app = typer.Typer(help="User administration.", **PLAIN_HELP)
keys_app = typer.Typer(help="Signing keys.", **PLAIN_HELP)
audit_app = typer.Typer(help="The audit trail.", **PLAIN_HELP)
for sub, name in (
    (storage_app, "storage"),
    (users_app, "users"),
    (keys_app, "keys"),
    (sms_app, "sms"),
    (email_app, "email"),
    (audit_app, "audit"),
    (fraud_app, "fraud"),
):
    app.add_typer(sub, name=name)


class AppChoice(StrEnum):
    api = "api"
    verification = "verification"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"twostep {package_version()}")
        raise typer.Exit()


@app.callback()
def root(
    _version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", callback=_show_version, is_eager=True),
    ] = False,
) -> None:
    """twostep: password sign-in with a one-time code by SMS.

    Settings come from TWOSTEP_* variables and a .env file in the working directory.
    """


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@app.command()
def serve(
    host: Annotated[str, typer.Option(metavar="ADDRESS", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(metavar="PORT", help="Port to listen on.", min=1, max=65535)] = 8000,
    app_name: Annotated[
        AppChoice,
        typer.Option(
            "--app",
            metavar="api|verification",
            help="api: everything; verification: only the SMS verification API, at /.",
        ),
    ] = AppChoice.api,
    workers: Annotated[
        int,
        typer.Option(
            metavar="N",
            help="Worker processes (each with its own storage connections); one uses no supervisor.",
            min=1,
            max=64,
        ),
    ] = 1,
) -> None:
    """Run the HTTP service (prepares the storage and the shared keys on first start).

    Without TWOSTEP_ISSUER, the token issuer is http://ADDRESS:PORT.
    SIGTERM stops accepting connections, lets the requests in flight finish (up to
    TWOSTEP_SHUTDOWN_TIMEOUT_SECONDS) and closes the storage (SQLite: the WAL is checkpointed).
    """
    from twostep.cli_serve import run_server

    run_server(host, port, app_name.value, workers)


@storage_app.command("init")
def storage_init() -> None:
    """Create the tables (SQLite) or the table (DynamoDB) where missing; safe to run again."""
    settings = settings_or_exit()
    with removed_if_failed(settings), container_for(settings, create=True):
        pass
    typer.echo(f"storage ready ({settings.storage})")


register_storage_commands(storage_app)


@storage_app.command("migrate")
def storage_migrate() -> None:
    """Apply pending schema migrations (every start does too) and make older stored addresses canonical;
    safe to run again, and from two hosts at once."""
    from twostep.container import migrate_storage

    settings = settings_or_exit()
    # A pipeline run with the wrong folder or TWOSTEP_SQLITE_PATH must not report a fresh, empty database
    # as the deployment's migrated one.
    refuse_missing_database(settings)
    with friendly_errors():
        applied, collisions = migrate_storage(settings)
    if applied:
        typer.echo(f"applied schema version(s) {', '.join(map(str, applied))} ({settings.storage})")
    else:
        typer.echo(f"schema already current ({settings.storage})")
    for collision in collisions:
        typer.echo(
            f"two accounts have one address ({mask_email(collision.canonical)}): {collision.holder_id} keeps"
            f" it, {collision.left_id} keeps its older spelling and cannot sign in; see docs/operations.md"
            " (Upgrades)",
            err=True,
        )


UserId = Annotated[str, typer.Argument(metavar="USER_ID", help="The user's id (see `twostep users list`).")]


def _user_row(user: Any) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "phone": mask_phone(user.phone) if user.phone else None,
        "phoneVerified": user.phone_verified,
        "emailVerified": user.email_verified,
        "createdAt": user.created_at.isoformat(),
    }


@users_app.command("list")
def users_list(
    limit: Annotated[int, typer.Option(metavar="N", min=1, max=1000, help="How many users.")] = 100,
    after: Annotated[
        str | None,
        typer.Option(metavar="USER_ID", help="Start after this user (the next page: stderr names it)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List users by id (phone numbers masked), a page at a time."""
    with container_for() as container:
        page = container.account.list(limit, after)
    rows = [_user_row(user) for user in page.items]
    if as_json:
        _print_json(rows)
    else:
        for row in rows:
            typer.echo(f"{row['id']}  {row['email']}  {row['phone'] or '-'}  {row['createdAt']}")
    if page.next_cursor is not None:
        # On stderr, so the listing (and its JSON) stays what it was: the first page was all an operator
        # could reach, 1,000 of a deployment's 200,000 accounts.
        typer.echo(f"more: twostep users list --after {page.next_cursor}", err=True)


@users_app.command("show")
def users_show(user_id: UserId) -> None:
    """Show one user as JSON."""
    with container_for() as container:
        _print_json(_user_row(container.account.get(user_id)))


def _confirmed(question: str) -> bool:
    """The operator's answer; no answer (no terminal: a script without --yes, or Ctrl+C) is a no. typer
    ended those with a bare "Aborted!", not the `twostep:` line every other refusal gives."""
    try:
        return typer.confirm(question)
    except typer.Abort:
        typer.echo()  # ends the prompt's line (on stdout, where the prompt is)
        return False


@users_app.command("delete")
def users_delete(
    user_id: UserId, yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False
) -> None:
    """Delete a user: end every session, erase personal data (messages keep a neutral author)."""
    if not yes and not _confirmed(f"Delete user {user_id}?"):
        fail("not deleted", 1)
    with container_for() as container:
        pseudonym = container.account.delete(user_id)
    typer.echo(f"deleted {user_id} (the audit trail now calls it {pseudonym})")


@users_app.command("lock")
def users_lock(user_id: UserId) -> None:
    """Lock a user: every session ends at once and signing in is refused until `users unlock`."""
    with container_for() as container:
        ended = container.account.lock(user_id)
    typer.echo(f"locked {user_id}; {ended} session(s) ended")


@users_app.command("set-email")
def users_set_email(
    user_id: UserId,
    email: Annotated[
        str, typer.Argument(metavar="EMAIL", help="The new address (unproven until its code comes back).")
    ],
) -> None:
    """Give a user a new email address (one whose address was taken back, say); the owner proves it.

    Refused when another account has the address. Sessions go on; the old proven address and number are
    told. The owner signs in with the new address and proves it (`POST /me/email/verify/start`).
    """
    with container_for() as container:
        user = container.account.set_email(user_id, email)
    typer.echo(f"{user_id} now has {mask_email(user.email)} (unproven until its owner proves it)")


@users_app.command("sign-out-all")
def users_sign_out_all(yes: Annotated[bool, typer.Option("--yes", help="Do not ask.")] = False) -> None:
    """End every session of every account (after restoring an older backup: see docs/operations.md)."""
    settings = settings_or_exit()
    if settings.storage == "memory":  # the sessions live in the server's process, out of this one's reach
        fail("TWOSTEP_STORAGE=memory: the sessions live in the server's own process; restart it instead", 2)
    if not yes and not _confirmed("End every session of every account (everyone signs in again)?"):
        fail("no session ended", 1)
    with container_for(settings) as container:
        ended = container.account.sign_out_everyone(reason="sign_out_all")
    typer.echo(f"{ended} session(s) ended; their access tokens are refused within seconds")


@users_app.command("unlock")
def users_unlock(user_id: UserId) -> None:
    """Lift an administrative lock and reset the wrong-code count after the second factor locked."""
    with container_for() as container:
        container.account.unlock(user_id)
    typer.echo(f"unlocked {user_id}")


@keys_app.command("rotate")
def keys_rotate(
    activation_delay: Annotated[
        int | None,
        typer.Option(
            "--activation-delay",
            metavar="SECONDS",
            min=0,
            help="Seconds the new key is only published before it signs "
            "(default TWOSTEP_KEY_ACTIVATION_DELAY_SECONDS; 0 only after a key leaked).",
        ),
    ] = None,
) -> None:
    """Make a new signing key for every server: published at once, signing after the activation delay.

    With TWOSTEP_MASTER_KEY_PREVIOUS set (a master-key rotation under way), the keys are sealed with it
    too, so servers not yet restarted with the new master key read the new key.
    """
    from datetime import timedelta

    from twostep.domain.clock import SystemClock
    from twostep.secrets import rotate_keys

    settings = settings_or_exit()
    if settings.jwt_algorithm == "HS256" and settings.jwt_hs256_secret is not None and settings.secret_arn:
        fail("TWOSTEP_JWT_HS256_SECRET: the HS256 key comes from this setting; change it there", 2)
    if not settings.secret_arn:  # the keys live in the database: never rotate into a new, empty one
        refuse_missing_database(settings)  # never make a database (and keys) in the wrong folder
        if settings.storage == "memory":
            # It would rotate the keys of a store made for this command and gone with it, and say that
            # running servers sign with the new key: none does, the leaked key signs on.
            fail(
                "TWOSTEP_STORAGE=memory: the keys live in the server's own process, which this command "
                "cannot reach; restart the server for new keys",
                2,
            )
    delay = settings.key_activation_delay_seconds if activation_delay is None else activation_delay
    clock = SystemClock()
    with friendly_errors():
        try:
            material = rotate_keys(settings, clock, timedelta(seconds=delay))
        except ImportError:  # only the secret store needs an optional package
            fail("TWOSTEP_SECRET_ARN needs boto3: pip install 'twostep[aws]'", 2)
    key = material.current
    if settings.jwt_algorithm == "HS256" and settings.jwt_hs256_secret is not None:
        typer.echo(
            f"the deployment's HS256 key is now TWOSTEP_JWT_HS256_SECRET's ({key.kid}); restart every process "
            "with the new value now: each signs and verifies with its own setting, and one still on the old "
            "value refuses to start"
        )
        return
    typer.echo(
        f"new signing key {key.kid} ({key.algorithm}); running servers publish it within "
        f"{settings.keys_refresh_seconds} s and sign with it from {(key.activates_at or key.created_at).isoformat()}"
        f" (in {delay} s); {len(material.signing_keys) - 1} previous key(s) kept for verification"
    )
    if not settings.secret_arn:
        _say_also_sealed_with_previous(settings)
    previous = material.signing_keys[1] if len(material.signing_keys) > 1 else None
    if previous is not None and previous.algorithm != key.algorithm:
        typer.echo(
            f"twostep: warning: this rotation changes the algorithm from {previous.algorithm} to "
            f"{key.algorithm}; every server pins one, so restart each with TWOSTEP_JWT_ALGORITHM="
            f"{key.algorithm} once the new key signs (one started with the new setting before refuses to "
            f"start; one still on {previous.algorithm} goes on signing with its {previous.algorithm} key "
            "until that key's tokens would be refused, then refuses sign-ins with 503)",
            err=True,
        )
    if delay < settings.keys_refresh_seconds:
        typer.echo(
            f"twostep: warning: with an activation delay under {settings.keys_refresh_seconds} s, a server "
            "that has not re-read the keys yet signs with the previous key until it does (at its next "
            "refresh, or the first time it is shown a token of the new key)",
            err=True,
        )


def _say_also_sealed_with_previous(settings: Settings) -> None:
    """Name the previous master key a rotation sealed the keys with too, and how that sealing goes."""
    from twostep.secrets.master_key import master_key_for, previous_master_keys

    sealing = master_key_for(settings).key_id
    previous = [key for key in previous_master_keys(settings) if key.key_id != sealing]  # as `seal_under`
    if not previous:
        return
    ids = ", ".join(key.key_id for key in previous)
    typer.echo(
        f"the keys are also sealed with the previous master key ({ids}, {previous[0].origin}), so servers "
        "not yet restarted with the new master key read the new signing key; once every process has the "
        "new key, run `twostep keys rotate-master-key` without the previous one to drop that sealing (after "
        "a leak of the previous key, rotate again without it then)"
    )


@keys_app.command("rotate-master-key")
def keys_rotate_master_key() -> None:
    """Re-seal the keys in the database with TWOSTEP_MASTER_KEY (the one replaced given as
    TWOSTEP_MASTER_KEY_PREVIOUS); in dev on SQLite without one, with a new key beside the database; keys
    sealed with the published dev key (dev on PostgreSQL or DynamoDB) it opens itself."""
    from twostep.domain.clock import SystemClock
    from twostep.secrets import rotate_master_key

    settings = settings_or_exit()
    if settings.secret_arn:
        fail(
            "TWOSTEP_SECRET_ARN: the keys are in the Secrets Manager secret, sealed by KMS, not with a master "
            "key; rotate the KMS key instead (nothing to do here)",
            2,
        )
    refuse_missing_database(settings)  # never make a database (and keys) in the wrong folder
    if settings.storage == "memory":
        fail(
            "TWOSTEP_STORAGE=memory: the keys live in the server's own process, which this command "
            "cannot reach; restart the server for a new master key",
            2,
        )
    with friendly_errors():
        done = rotate_master_key(settings, SystemClock())
    if done.replaced is None:
        typer.echo(
            f"the keys are already sealed with this master key ({done.sealing}); nothing to do (to replace "
            "it, set TWOSTEP_MASTER_KEY to a new one from `twostep keys master-key` and "
            "TWOSTEP_MASTER_KEY_PREVIOUS to this one)"
        )
        return
    where = "a new master key beside the database" if done.new_dev_key else f"the master key of {done.origin}"
    if done.from_dev_key:
        typer.echo(
            f"the keys were sealed with the published dev master key ({done.replaced}), which opened them: "
            "dev to a real master key needs no previous key (the other way is never done: the dev key seals "
            "nothing)"
        )
    typer.echo(
        f"the keys are re-sealed with {where} ({done.sealing}; was {done.replaced}); the signing keys and "
        "the code HMAC key are unchanged. Restart every process with it: a running one that holds only "
        "the previous master key keeps the keys it read until then; one started with only it refuses to start"
    )


@keys_app.command("master-key")
def keys_master_key() -> None:
    """Print a new random master key for TWOSTEP_MASTER_KEY (or a TWOSTEP_MASTER_KEY_FILE); stores nothing."""
    from twostep.secrets.master_key import new_master_key

    typer.echo(new_master_key())


@keys_app.command("generate")
def keys_generate(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the key material JSON (the default).")
    ] = True,
    extra: Annotated[
        list[str] | None,
        typer.Option(
            "--extra",
            metavar="NAME=VALUE",
            help="A setting kept in the secret's `extra` (SMS provider credentials); repeatable.",
        ),
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


@audit_app.command("tail")
def audit_tail(
    user: Annotated[str | None, typer.Option(metavar="USER_ID", help="Only events of this user id.")] = None,
    last: Annotated[int, typer.Option(metavar="N", min=1, max=10000, help="How many of the newest.")] = 50,
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
    """The `twostep` process (cli_entry): a command's log lines first get twostep's format and redaction,
    but for `serve`, which sets them up from the settings (cli_serve)."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["serve"]:
        from twostep.logs import configure_cli_logging

        configure_cli_logging()
    run: Callable[..., Any] = app
    try:
        run(args=argv, prog_name="twostep")
    except KeyboardInterrupt:
        sys.exit(130)

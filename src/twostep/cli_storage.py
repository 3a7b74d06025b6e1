"""`twostep storage purge` and `twostep storage backup PATH`: housekeeping from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twostep.cli_support import container_for, friendly_errors, settings_or_exit


def register(storage_app: typer.Typer) -> None:
    storage_app.command("purge")(storage_purge)
    storage_app.command("backup")(storage_backup)


def storage_purge() -> None:
    """Delete expired codes, sessions, counters, idempotency keys and outbox messages, and audit events older than
    TWOSTEP_AUDIT_RETENTION_DAYS (a running server does this in the background too)."""
    with container_for(settings_or_exit()) as container:
        with friendly_errors():
            deleted = container.housekeeping.purge_all()
        backend = sorted(container.housekeeping.left_to_backend)
    typer.echo("deleted " + ", ".join(f"{count} {kind}" for kind, count in deleted.items()))
    if backend:
        typer.echo(f"expired {', '.join(backend)} are deleted by the storage itself (DynamoDB TTL)")


def storage_backup(
    target: Annotated[
        Path, typer.Argument(metavar="PATH", help="The copy to write (replaced if it exists).")
    ],
) -> None:
    """A consistent copy of the live SQLite database (online backup API), safe while servers write."""
    with container_for(settings_or_exit()) as container, friendly_errors():
        container.housekeeping.backup(target)
    typer.echo(f"backed up to {target} (mode 0600); keep the master key too: it opens the keys inside")

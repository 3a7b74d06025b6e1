"""`twostep fraud status` and `twostep fraud unblock PREFIX`: the SMS fraud guard's blocked prefixes."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from twostep.cli_support import PLAIN_HELP, container_for

fraud_app = typer.Typer(help="The SMS fraud guard: blocked number prefixes.", **PLAIN_HELP)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@fraud_app.command("status")
def fraud_status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the number prefixes the fraud guard blocks now, with the counts that blocked them."""
    with container_for() as container:
        blocks = container.fraud.blocked()
    rows = [
        {
            "prefix": b.prefix,
            "blockedAt": b.blocked_at.isoformat(),
            "until": b.until.isoformat(),
            "sent": b.sent,
            "verified": b.verified,
        }
        for b in blocks
    ]
    if as_json:
        _print_json(rows)
        return
    if not rows:
        typer.echo("no prefix is blocked")
    for row in rows:
        typer.echo(
            f"{row['prefix']}  blocked until {row['until']}  (sent {row['sent']}, verified {row['verified']})"
        )


@fraud_app.command("unblock")
def fraud_unblock(
    prefix: Annotated[str, typer.Argument(help="The prefix, as `fraud status` lists it.")],
) -> None:
    """Lift the block of a number prefix now; its counts start afresh."""
    with container_for() as container:
        container.fraud.unblock(prefix.strip())
    typer.echo(f"unblocked {prefix.strip()}")

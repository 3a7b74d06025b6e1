"""`twostep sms outbox` and `twostep email outbox`: what the console providers kept (dev and staging)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

import typer

from twostep.cli_support import PLAIN_HELP, container_for, fail, friendly_errors, settings_or_exit
from twostep.domain.identity import normalise_email, parse_phone

EMAIL_CHANNEL = "email"  # the channel the console email provider writes (twostep.email.console)

sms_app = typer.Typer(help="SMS tools.", **PLAIN_HELP)
email_app = typer.Typer(help="Email tools.", **PLAIN_HELP)


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@sms_app.command("outbox")
def sms_outbox(
    to: Annotated[
        str | None, typer.Option(metavar="NUMBER", help="Only messages to this number (E.164).")
    ] = None,
    last: Annotated[int, typer.Option(metavar="N", min=1, max=1000, help="How many of the newest.")] = 10,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: [{to, body, sent_at, provider, channel}].")
    ] = False,
) -> None:
    """Messages the console provider kept, by any channel (dev and staging only)."""
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
        by = "" if entry.channel == "sms" else f"  ({entry.channel})"
        typer.echo(f"{entry.sent_at.isoformat()}  {entry.to}{by}\n{entry.body}\n")


@email_app.command("outbox")
def email_outbox(
    to: Annotated[str | None, typer.Option(metavar="EMAIL", help="Only emails to this address.")] = None,
    last: Annotated[int, typer.Option(metavar="N", min=1, max=1000, help="How many of the newest.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON: [{to, body, sent_at}].")] = False,
) -> None:
    """Emails the console email provider kept (dev and staging only)."""
    settings = settings_or_exit()
    if settings.stage == "prod":
        fail("the outbox is a development tool and is refused when TWOSTEP_STAGE=prod", 1)
    with friendly_errors():
        address = normalise_email(to) if to else None
    with container_for(settings) as container:
        # The storage keeps the emails only: reading ten times `last` and keeping the emails among them
        # showed none once more than that many texts had been sent since.
        emails = container.storage.list_outbox(to=address, last=last, channel=EMAIL_CHANNEL)
    if as_json:
        _print_json([{**asdict(e), "sent_at": e.sent_at.isoformat()} for e in emails])
        return
    for entry in emails:
        typer.echo(f"{entry.sent_at.isoformat()}  {entry.to}\n{entry.body}\n")

"""The `twostep` program: `twostep serve` with plain arguments starts without typer; the rest goes to `cli`.

Every module a server process imports stays in its memory for its whole life (the bench's peak RSS):
typer (with its own copy of click), the admin commands and their option tables cost ~1.7 MiB that a
server never uses after reading four options. So a `serve` command line made only of the options below,
each given once with a plain value, is read here; anything else (`--help`, a bad or out-of-range value,
an unknown option, shell completion) goes to the typer app, which answers exactly as before.
"""

from __future__ import annotations

import errno
import os
import sys
from dataclasses import dataclass

APPS = ("api", "verification")  # cli.AppChoice
PORTS = range(1, 65536)  # the typer option's min and max
WORKERS = range(1, 65)


@dataclass(frozen=True, slots=True)
class ServeArgs:
    host: str = "127.0.0.1"
    port: int = 8000
    app_name: str = "api"
    workers: int = 1


def _number(value: str, allowed: range) -> int | None:
    if not (value.isascii() and value.isdigit()):
        return None
    number = int(value)
    return number if number in allowed else None


def plain_serve_args(argv: list[str]) -> ServeArgs | None:
    """The options of a plain `serve` command line, or None when the typer app must read it."""
    if not argv or argv[0] != "serve" or "_TWOSTEP_COMPLETE" in os.environ:
        return None
    given: dict[str, str] = {}
    rest = argv[1:]
    while rest:
        name, equals, value = rest[0].partition("=")
        if equals:
            rest = rest[1:]
        elif len(rest) >= 2:
            value, rest = rest[1], rest[2:]
        else:
            return None
        if name not in ("--host", "--port", "--app", "--workers") or name in given:
            return None
        if not value or value.startswith("-"):
            return None
        given[name] = value
    port = _number(given.get("--port", "8000"), PORTS)
    workers = _number(given.get("--workers", "1"), WORKERS)
    app_name = given.get("--app", "api")
    if port is None or workers is None or app_name not in APPS:
        return None
    return ServeArgs(given.get("--host", "127.0.0.1"), port, app_name, workers)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    plain = plain_serve_args(args)
    if plain is None:
        from twostep.cli import main as typer_main

        typer_main(args)
        return
    from twostep import cli_serve

    # What typer's command runner does around a command: Ctrl+C exits 130, a closed pipe exits 1.
    try:
        cli_serve.run_server(plain.host, plain.port, plain.app_name, plain.workers)
    except KeyboardInterrupt:
        sys.exit(130)
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        sys.exit(1)
    sys.exit(0)

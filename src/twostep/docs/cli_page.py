"""The CLI reference, generated from the `twostep` command itself (its `--help` for every command)."""

from __future__ import annotations

from typing import Any

import typer
from typer.testing import CliRunner

from twostep.cli import app
from twostep.cli_support import EXIT_CODES


def command_paths(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group, depth first, in the order `--help` lists them."""
    found = [prefix]
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a group
            found += command_paths(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def help_text(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="twostep", terminal_width=100)
    if result.exit_code != 0:
        raise RuntimeError(f"`twostep {' '.join(path)} --help` failed: {result.output}")
    return result.output.rstrip()


def cli_markdown() -> str:
    out: list[str] = []
    for path in command_paths(typer.main.get_command(app)):
        title = " ".join(("twostep", *path))
        out += [f"## `{title}`", "", "```text", help_text(path), "```", ""]
    return "\n".join(out)


def exit_codes_markdown() -> str:
    return "\n".join(f"- `{code}`: {meaning}" for code, meaning in EXIT_CODES)

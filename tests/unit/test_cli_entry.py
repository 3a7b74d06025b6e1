"""`twostep serve` with plain options starts without typer; every other command line goes to the typer app."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.fresh_python import environment_without, run_python
from twostep.cli_entry import ServeArgs, plain_serve_args


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["serve"], ServeArgs()),
        (["serve", "--port", "8123"], ServeArgs(port=8123)),
        (["serve", "--port=8123", "--host", "0.0.0.0"], ServeArgs(host="0.0.0.0", port=8123)),
        (["serve", "--app", "verification", "--workers=2"], ServeArgs(app_name="verification", workers=2)),
        (
            ["serve", "--host", "::1", "--port", "1", "--workers", "64"],
            ServeArgs(host="::1", port=1, workers=64),
        ),
        (["serve", "--port", "65535"], ServeArgs(port=65535)),
    ],
)
def test_a_plain_serve_line_is_read_without_typer(argv: list[str], expected: ServeArgs) -> None:
    assert plain_serve_args(argv) == expected


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--version"],
        ["storage", "init"],
        ["serve", "--help"],
        ["serve", "--port"],  # a missing value
        ["serve", "--port", "0"],
        ["serve", "--port", "65536"],
        ["serve", "--port", "+80"],
        ["serve", "--port", "eighty"],
        ["serve", "--workers", "65"],
        ["serve", "--workers", "0"],
        ["serve", "--app", "API"],
        ["serve", "--app", "admin"],
        ["serve", "--host", "--port", "80"],  # a value that looks like an option
        ["serve", "--host="],
        ["serve", "--port", "80", "--port", "81"],  # given twice
        ["serve", "--bind", "x"],
        ["serve", "extra"],
        ["serve", "--", "--port", "80"],
    ],
)
def test_anything_else_goes_to_the_typer_app(argv: list[str]) -> None:
    assert plain_serve_args(argv) is None


def test_shell_completion_goes_to_the_typer_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_TWOSTEP_COMPLETE", "bash_complete")
    assert plain_serve_args(["serve"]) is None


PROBE = """
import json, sys
from twostep import cli_serve
cli_serve.run_server = lambda *args: print(json.dumps([list(args), "typer" in sys.modules]))
from twostep.cli_entry import main
main(sys.argv[1:])
"""


def _probe(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return run_python(PROBE, *argv, env=environment_without("TWOSTEP_", "_TWOSTEP"), cwd=tmp_path)


def test_serve_runs_the_server_without_loading_typer(tmp_path: Path) -> None:
    done = _probe(tmp_path, "serve", "--port", "8123", "--app=verification")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == [["127.0.0.1", 8123, "verification", 1], False]


def test_serve_with_a_bad_option_is_answered_by_typer(tmp_path: Path) -> None:
    done = _probe(tmp_path, "serve", "--port", "70000")
    assert done.returncode == 2
    assert "Usage: twostep serve" in done.stderr and "--port" in done.stderr
    assert done.stdout == ""


def test_the_short_way_reads_the_options_the_typer_command_declares() -> None:
    """cli_entry keeps its own copy of `serve`'s options (it must not import typer): the same names,
    defaults, ranges and choices, no environment variables, and no option it does not know."""
    import typer.main

    from twostep import cli_entry
    from twostep.cli import AppChoice, app

    serve = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    declared = {param.opts[0]: param for param in serve.params}
    assert set(declared) == {"--host", "--port", "--app", "--workers"}
    defaults = ServeArgs()
    assert declared["--host"].default == defaults.host
    assert declared["--port"].default == defaults.port
    assert AppChoice(declared["--app"].default).value == defaults.app_name
    assert declared["--workers"].default == defaults.workers
    assert range(declared["--port"].min, declared["--port"].max + 1) == cli_entry.PORTS
    assert range(declared["--workers"].min, declared["--workers"].max + 1) == cli_entry.WORKERS
    assert tuple(choice.value for choice in AppChoice) == cli_entry.APPS
    assert all(not param.envvar for param in serve.params)

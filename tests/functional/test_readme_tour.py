"""The README's five-minute tour (and the quick start's copy of it), run with bash exactly as written
against a live `twostep serve`: only the base URL differs, through the `TWOSTEP` variable the tour reads."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.live import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
TOUR_DOCUMENTS = ["README.md", "docs/quickstart.md"]


def tour_block(document: Path) -> str:
    """The first ```sh block after the tour heading."""
    text = document.read_text()
    start = text.index("five-minute tour")
    match = re.compile(r"```sh\n(.*?)```", re.S).search(text, start)
    assert match is not None, f"{document} has no sh block after its tour heading"
    return match.group(1)


def test_both_documents_show_the_same_tour() -> None:
    assert tour_block(ROOT / "README.md") == tour_block(ROOT / "docs/quickstart.md")


def test_the_tour_has_no_placeholders() -> None:
    block = tour_block(ROOT / "README.md")
    assert not re.search(r"<[a-zA-Z][\w -]*>", block), "use shell variables, not <placeholders>"
    assert "TWOSTEP=${TWOSTEP:-http://127.0.0.1:8000}" in block


@pytest.mark.parametrize("document", TOUR_DOCUMENTS)
def test_the_tour_runs_as_written(document: str, tmp_path: Path) -> None:
    block = tour_block(ROOT / document)
    with ServerProcess(tmp_path / "server") as server:
        env = server.env | {"TWOSTEP": server.base_url}
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=ROOT,  # the tour runs `.venv/bin/twostep` from the repository's folder
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert '"email":"ada@example.com"' in lines[0], result.stdout
    assert lines[-1] == '{"message":"Hello, ada@example.com!"}', result.stdout
    assert "sign-in code" in result.stdout  # the outbox step shows the text


def test_the_verification_api_example_runs_as_written(tmp_path: Path) -> None:
    text = (ROOT / "docs/verification-api.md").read_text()
    start = text.index("<!-- verification example")
    match = re.compile(r"```sh\n(.*?)```", re.S).search(text, start)
    assert match is not None
    with ServerProcess(tmp_path / "server", app="verification") as server:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", match.group(1)],
            cwd=ROOT,
            env=server.env | {"VERIFY": server.base_url},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    created, verified = result.stdout.strip().splitlines()
    assert '"auth_id":"signup-42"' in created and '"attempts_left":3' in created
    assert verified.startswith('{"authenticated":true'), verified

"""`make test` on a machine without apt-get: the system-package targets say what will be skipped and let
the rest of the run go on, instead of stopping it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_browser_target_without_chromium_or_apt_warns_and_succeeds(tmp_path: Path) -> None:
    make = shutil.which("make")
    assert make is not None
    empty_path = tmp_path / "bin"  # neither chromium nor apt-get on PATH
    empty_path.mkdir()
    result = subprocess.run(
        [make, "--no-print-directory", "APT_GET=", "browser"],
        cwd=ROOT,
        env={"PATH": str(empty_path), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "browser tests (tests/e2e) will be SKIPPED" in result.stderr


def test_make_test_builds_the_docs_and_test_fast_skips_the_slow_suites() -> None:
    dry = subprocess.run(
        ["make", "-n", "test", "test-fast"], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "mkdocs build --strict" in dry
    assert '-m "not e2e and not aws and not slow' in dry

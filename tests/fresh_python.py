"""A script run in a new interpreter: for tests about what a fresh process imports, builds or refuses.

Those tests cannot run in the test process, which has imported everything the suite ever needed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def environment_without(*prefixes: str, **extra: str) -> dict[str, str]:
    """This process's environment without the variables starting with `prefixes`, plus `extra`."""
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)} | extra


def run_python(
    script: str, *argv: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -c script argv…`, its output captured as text; the caller judges its exit code."""
    return subprocess.run(
        [sys.executable, "-c", script, *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def python_output(
    script: str, *argv: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> str:
    """`run_python`'s standard output; the test fails with the end of its errors when it exits non-zero."""
    done = run_python(script, *argv, env=env, cwd=cwd, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout

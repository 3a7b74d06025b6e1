"""The SAM template passes cfn-lint, `sam validate --lint` and `sam build` (no container, no AWS account)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.aws

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
FALLBACK_SAM = ROOT / ".venv-sam" / "bin" / "sam"


ELF_AARCH64 = 183


def _elf_machine(path: Path) -> int:
    """The `e_machine` field of an ELF file (little-endian): 183 is AArch64, 62 is x86-64."""
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    return int.from_bytes(header[18:20], "little")


def _sam() -> str:
    found = shutil.which("sam") or (str(FALLBACK_SAM) if FALLBACK_SAM.exists() else None)
    if found is None:
        pytest.skip("AWS SAM CLI is not installed (make dev installs it into .venv-sam)")
    return found


def _run(*command: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_ENDPOINT_URL", None)
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


def test_cfn_lint() -> None:
    # The project's own cfn-lint (pinned with the dev extras), not whichever comes first on PATH.
    own = Path(sys.executable).parent / "cfn-lint"
    cfn_lint = str(own) if own.exists() else shutil.which("cfn-lint") or "cfn-lint"
    _run(cfn_lint, str(TEMPLATE))


def test_sam_validate_lint() -> None:
    result = _run(_sam(), "validate", "--lint", "--template", str(TEMPLATE), "--region", "us-east-1")
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_sam_build_without_container(tmp_path: Path) -> None:
    build_dir = tmp_path / "build"
    _run(
        _sam(),
        "build",
        "--template",
        str(TEMPLATE),
        "--build-dir",
        str(build_dir),
        "--cache-dir",
        str(tmp_path / "cache"),
        timeout=600,
    )
    for function in ("ApiFunction", "AuthorizerFunction"):
        artifact = build_dir / function
        assert (artifact / "twostep" / "aws" / "authorizer.py").is_file()
        assert (artifact / "twostep" / "aws" / "api_handler.py").is_file()
        assert (artifact / "jwt").is_dir() and (artifact / "mangum").is_dir()
        assert not (artifact / "tests").exists()
        native = list((artifact / "cryptography" / "hazmat" / "bindings").glob("_rust*.so"))
        assert native and all(_elf_machine(path) == ELF_AARCH64 for path in native)  # built for arm64
    assert (build_dir / "template.yaml").is_file()

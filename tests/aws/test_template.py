"""The SAM template passes cfn-lint, `sam validate --lint` and `sam build` (no container, no AWS account)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from twostep.container import Container

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
        assert not (artifact / "bin").exists()
        _assert_compiled(artifact)
    assert (build_dir / "template.yaml").is_file()


def _assert_compiled(artifact: Path) -> None:
    """Every module ships its Python 3.11 bytecode, used without checking the source's timestamp: Lambda's
    /var/task is read-only, so a module without it is compiled again on every cold start."""
    for package in ("twostep", "fastapi", "pydantic", "cryptography"):
        sources = list((artifact / package).rglob("*.py"))
        assert sources
        for source in sources:
            compiled = source.parent / "__pycache__" / f"{source.stem}.cpython-311.pyc"
            assert compiled.is_file(), f"{source.relative_to(artifact)} has no .pyc"
            flags = int.from_bytes(compiled.read_bytes()[4:8], "little")
            assert flags == 0b01, f"{compiled.name}: not an unchecked-hash .pyc (flags {flags})"


FALLBACK_CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def test_checkov_passes_with_only_documented_skips() -> None:
    """Every checkov finding is fixed, or skipped in the template with a written reason."""
    import json

    checkov = shutil.which("checkov") or (str(FALLBACK_CHECKOV) if FALLBACK_CHECKOV.exists() else None)
    if checkov is None:
        pytest.skip("checkov is not installed (make dev installs it into .venv-checkov)")
    command = [checkov, "-f", str(TEMPLATE), "--framework", "cloudformation", "-o", "json", "--skip-download"]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    result = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    report = json.loads(result.stdout)
    checks = report["results"]
    failed = [(c["check_id"], c["resource"]) for c in checks["failed_checks"]]
    assert not failed, failed
    assert checks["passed_checks"], "checkov checked nothing"
    for skipped in checks["skipped_checks"]:
        reason = (skipped.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason) > 20, f"{skipped['check_id']} on {skipped['resource']} is skipped without a reason"


def _template() -> dict[str, Any]:
    from cfnlint.decode import decode

    template, errors = decode(str(TEMPLATE))
    assert not errors and template is not None
    return dict(template)


def test_cors_allows_what_the_web_ui_and_the_app_send() -> None:
    """The UI on S3 with the API on API Gateway: its preflight must allow every header api.js sets."""
    import re

    from twostep.api.app import CORS_ALLOW_HEADERS

    api_js = (ROOT / "src" / "twostep" / "api" / "web" / "assets" / "api.js").read_text()
    safelisted = {"accept", "accept-language", "content-language"}
    assigned = re.findall(r'headers(?:\.([A-Za-z]+)|\["([^"]+)"\])\s*=[^=]', api_js)
    constants = re.findall(r'"(X-[A-Za-z-]+)"', api_js)  # CLIENT_HEADER = { "X-Twostep-Client": "web" }
    ui_headers = {name.lower() for pair in assigned for name in pair if name} | {c.lower() for c in constants}
    ui_headers -= safelisted
    assert {"authorization", "content-type", "x-twostep-client"} <= ui_headers, ui_headers
    cors = _template()["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    allowed = {header.lower() for header in cors["AllowHeaders"]}
    assert ui_headers <= allowed, ui_headers - allowed
    assert allowed == {header.lower() for header in CORS_ALLOW_HEADERS}


def test_cors_allows_every_method_the_app_answers(make_container: Callable[..., Container]) -> None:
    """Before, the HTTP API's CORS allowed GET, POST, DELETE and OPTIONS: browsers could not send the
    app's PUT (`/me/locale`). It now names exactly the methods the app's own CORS derives from its routes."""
    from twostep.api.app import cors_allow_methods, create_app

    cors = _template()["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    allowed = {method.upper() for method in cors["AllowMethods"]}
    assert allowed == set(cors_allow_methods(create_app(make_container()))), allowed
    assert "PUT" in allowed


def test_data_and_its_key_are_retained_and_logs_expire() -> None:
    resources = _template()["Resources"]
    for name in ("AuthTable", "DataKey", "KeysSecret"):
        assert resources[name].get("DeletionPolicy") == "Retain", name
        assert resources[name].get("UpdateReplacePolicy") == "Retain", name
    groups = [r for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert len(groups) >= 3 and all("RetentionInDays" in g["Properties"] for g in groups)
    assert "AccessLogSettings" in resources["HttpApiStage"]["Properties"]
    alarms = {n for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert {"Api5xxRateAlarm", "SmsBudgetAlarm", "ConversionDropAlarm", "AuthorizerErrorsAlarm"} <= alarms


def test_the_guide_describes_the_authorizer_cache_the_template_sets() -> None:
    """Before, docs/guides/aws.md said the Lambda authorizer's result was cached 300 s per header (and
    priced one invocation per token per 5 minutes) while the template turns the cache off, which is what
    makes an ended session refused within the authorizer's own revocation TTL."""
    import re

    authorizer = _template()["Resources"]["LambdaAuthorizer"]["Properties"]
    assert authorizer["AuthorizerResultTtlInSeconds"] == 0
    guide = (ROOT / "docs" / "guides" / "aws.md").read_text()
    claims = re.findall(r"cached\s+\d+\s*s\b|per\s+\d+\s+minutes\s+\(cached\)", guide)
    assert claims == [], claims


def test_the_automatic_fallback_can_be_turned_on_for_both_functions_that_read_receipts() -> None:
    """Before, the template had no way to set TWOSTEP_FALLBACK_CHANNELS: a stack could send codes by voice
    or WhatsApp (`ChannelProviders`) but an undelivered text never fell back to them, neither on a Twilio
    receipt (the API function) nor on an SNS delivery-status line (its own function), short of editing
    the template. `FallbackChannels` now sets it on both, with the channels Settings accepts."""
    import re

    from twostep.channels import registry

    template = _template()
    parameter = template["Parameters"]["FallbackChannels"]
    pattern = re.compile(parameter["AllowedPattern"])
    others = registry.channel_names()[1:]  # every channel but sms, as Settings checks them
    assert parameter["Default"] == "" and pattern.fullmatch("")
    assert all(pattern.fullmatch(name) for name in others) and pattern.fullmatch(",".join(others))
    assert not pattern.fullmatch("sms") and not pattern.fullmatch("voice,")
    for function in ("ApiFunction", "SnsDeliveryStatusFunction"):
        variables = template["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert variables["TWOSTEP_FALLBACK_CHANNELS"] == {
            "Fn::If": ["HasFallbackChannels", {"Ref": "FallbackChannels"}, {"Ref": "AWS::NoValue"}]
        }, function


def test_only_the_sns_delivery_status_groups_may_invoke_their_function() -> None:
    """Before, the function's one invoke permission for CloudWatch Logs named no SourceArn, so any log
    group of the account could be subscribed to it and feed it forged delivery lines. Each permission
    now names one of the two groups, and each subscription waits for its own."""
    resources = _template()["Resources"]
    permissions = {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::Permission"
        and resource["Properties"]["FunctionName"] == {"Fn::GetAtt": ["SnsDeliveryStatusFunction", "Arn"]}
    }
    assert {name: p.get("SourceArn") for name, p in permissions.items()} == {
        "SnsDeliveryStatusInvokePermission": {"Fn::GetAtt": ["SnsDeliveryLogs", "Arn"]},
        "SnsDeliveryFailureInvokePermission": {"Fn::GetAtt": ["SnsDeliveryFailureLogs", "Arn"]},
    }
    for subscription, group, permission in (
        ("SnsDeliverySubscription", "SnsDeliveryLogs", "SnsDeliveryStatusInvokePermission"),
        ("SnsDeliveryFailureSubscription", "SnsDeliveryFailureLogs", "SnsDeliveryFailureInvokePermission"),
    ):
        assert resources[subscription]["Properties"]["LogGroupName"] == {"Ref": group}
        assert resources[subscription]["DependsOn"] == permission


def test_the_sns_delivery_status_role_may_create_its_two_groups_only() -> None:
    """AWS's delivery-status prerequisites list logs:CreateLogGroup for the role SNS writes with; it
    lacked it. It is granted on the two groups' names alone."""
    role = _template()["Resources"]["SnsDeliveryStatusRole"]["Properties"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    creating = [s for s in statements if "logs:CreateLogGroup" in str(s["Action"])]
    assert len(creating) == 1 and creating[0]["Effect"] == "Allow"
    named = [str(resource["Fn::Sub"]) for resource in creating[0]["Resource"]]
    assert sorted(name.rsplit(":", 1)[-1] for name in named) == [
        "${SnsDeliveryFailureLogs}",
        "${SnsDeliveryLogs}",
    ]
    assert all(
        name.startswith("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:") for name in named
    )


def test_an_email_that_ses_never_answers_fails_before_the_api_function_ends(
    aws_test_environment: dict[str, str],
) -> None:
    """The SES client waits `TWOSTEP_EMAIL_TIMEOUT_SECONDS` per attempt, over botocore's attempts. Before,
    at the default 10 s, one email to an SES that never answered took 30 s (three attempts, measured
    against a server that accepts and stays silent) in a function that ends at 10 s: Lambda killed the
    request, API Gateway answered its own error, and the log said "Task timed out" rather than SES."""
    from twostep.domain.clock import SystemClock
    from twostep.email.ses import SesEmailSender
    from twostep.settings import Settings
    from twostep.sms import SenderDeps
    from twostep.storage.memory import MemoryStorage

    resources = _template()
    api = resources["Resources"]["ApiFunction"]["Properties"]
    environment = {
        **resources["Globals"]["Function"]["Environment"]["Variables"],
        **api["Environment"]["Variables"],
    }
    timeout = api.get("Timeout", resources["Globals"]["Function"]["Timeout"])
    email_timeout = environment.get("TWOSTEP_EMAIL_TIMEOUT_SECONDS")
    extra = {} if email_timeout is None else {"email_timeout_seconds": email_timeout}
    settings = Settings(_env_file=None, email_provider="ses", aws_region="us-east-1", **extra)  # type: ignore[call-arg]
    config = SesEmailSender.from_settings(
        settings, SenderDeps(MemoryStorage(), SystemClock())
    )._client.meta.config
    slowest = config.retries["total_max_attempts"] * max(config.connect_timeout, config.read_timeout)
    assert slowest <= timeout - 3  # what the request does besides: the table, its code, its answer

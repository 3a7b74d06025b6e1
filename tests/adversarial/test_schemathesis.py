"""Schemathesis against `/openapi.json` of a live `twostep serve`: every operation, valid and invalid data.

Checks: no 5xx, responses match their documented schema, every returned status and content type is
documented, unsupported methods get 405, invalid data is refused, auth is enforced. Runs with a real
Bearer token (obtained through register, login and the code from `twostep sms outbox`), with none, and
with a garbage one. `positive_data_acceptance` is left out on purpose: registration's rules (email syntax,
phone validity, the password blocklist) are not JSON Schema, so schema-valid data may get a documented 400.

Bounded in `make test` (20 examples per operation, fixed seed); `make fuzz` (TWOSTEP_FUZZ=long) runs the
slow variant with many more examples and a random seed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.adversarial.live_server import LiveServer, live_server
from tests.factors.soft_authenticator import enrol_passkey_and_device

LONG = os.environ.get("TWOSTEP_FUZZ") == "long"
# A long run's failure names its seed; TWOSTEP_FUZZ_SEED=<seed> replays it.
LONG_SEED = os.environ.get("TWOSTEP_FUZZ_SEED")
PHONE = "+905555555501"
EXCLUDED_CHECKS = "positive_data_acceptance"


def _st_command() -> list[str]:
    beside_python = Path(sys.executable).with_name("st")
    found = str(beside_python) if beside_python.exists() else shutil.which("st")
    if found is None:
        pytest.skip("schemathesis (`st`) is not installed; `make dev` installs it")
    return [found]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Limits stay on (429 must be documented too) but high enough that the fuzzer reaches the routes.
    with live_server(
        tmp_path_factory.mktemp("schemathesis"),
        TWOSTEP_IP_LOGIN_PER_MINUTE="100000",
        TWOSTEP_IP_REGISTER_PER_HOUR="100000",
        TWOSTEP_RESEND_COOLDOWN_SECONDS="0",
        # The account's own address and number get every code and notice: at 5 per 10 minutes nearly every
        # POST /me/email/verify/start answered 429, its logic untested. The largest caps settings allow.
        TWOSTEP_SMS_PER_NUMBER_10MIN="1000",
        TWOSTEP_SMS_PER_NUMBER_DAY="10000",
    ) as running:
        yield running


@pytest.fixture(scope="module")
def session(server: LiveServer) -> dict[str, str]:
    pair = server.sign_in("fuzz@example.com", PHONE)
    # a passkey and a remembered device, so their routes get past 404 too
    records = enrol_passkey_and_device(server.base_url, pair["accessToken"], PHONE, server.latest_code)
    with_code = server.start_login("fuzz@example.com")  # a live challenge, so /otp/{otp_id}/* get past 404
    # the remembered device's sign-in is a session of its own, not the token's: ending it (DELETE
    # /sessions/{session_id}) gets past 404 and leaves the fuzzer signed in
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        listed = http.get("/sessions", headers={"Authorization": f"Bearer {pair['accessToken']}"}).json()
    other = next(item["id"] for item in listed["sessions"] if not item["current"])
    return {"access": pair["accessToken"], "otp_id": with_code, "session_id": other, **records}


def run_schemathesis(
    server: LiveServer, authorization: str | None, otp_id: str, examples: int, **path: str
) -> None:
    config = server.workdir / "schemathesis.toml"
    # Every check but one, named here rather than by `--checks` on the command line: a command-line choice
    # overrides every per-operation setting in this file, so the one exception below would not hold.
    lines = ["[checks]", "enabled = true", f"{EXCLUDED_CHECKS}.enabled = false"]
    lines += [
        "[parameters]",
        f'"path.otp_id" = "{otp_id}"',
        *(f'"path.{k}" = "{v}"' for k, v in path.items()),
    ]
    # A claim's id travels in the body, so ST302 counts every stateful POST /email-claims/verify as a read
    # of the claim just created, even when the fuzzer made the id up (it sends `claimId: "Ms0zrqoVw"`
    # after a 202 from POST /email-claims). The 404 is right: an id nobody issued answers 404 as a reset
    # id does, while every issued claim (an address free, held unproven or proven) answers the same
    # 401/410 (tests/functional/test_email_claims.py). Only this check, only on this operation.
    lines += [
        "[[operations]]",
        'include-path = "/email-claims/verify"',
        "checks.ensure_resource_availability.enabled = false",
    ]
    if authorization is not None and "not.a.token" not in authorization:
        # With a real token, a route that only ever answers 401, never gets past 404, or mostly answers 429
        # (its logic untested behind a limit), is a failure.
        lines += ["[warnings]", 'fail-on = ["missing_auth", "missing_test_data", "rate_limited"]']
        # Their ids travel in the body, where the config cannot supply one; the functional and live
        # suites (test_account_lifecycle, test_email_claims, test_account_live) drive them with real ids.
        lines += [
            "[[operations]]",
            'include-path = ["/password/reset", "/me/phone/verify", "/me/email/verify", "/email-claims/verify"]',
            "warnings = false",
        ]
        # Provider receipts are authenticated by the provider's signature or secret URL, never the
        # bearer token, and the status read needs a verification created first: tests/receipts drives
        # them signed and with real ids.
        lines += [
            "[[operations]]",
            'include-path = ["/receipts/twilio", "/receipts/flowroute/{secret}", "/verifications/status"]',
            "warnings = false",
        ]
    config.write_text("\n".join(lines) + "\n")
    command = [
        *_st_command(),
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{server.url}/openapi.json",
        "--max-examples",
        str(examples),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--suppress-health-check",
        "all",
    ]
    if not LONG:
        command += ["--seed", "20260101"]
    elif LONG_SEED:
        command += ["--seed", LONG_SEED]
    if authorization is not None:
        command += ["--header", f"Authorization: {authorization}"]
    done = subprocess.run(
        command, cwd=server.workdir, capture_output=True, text=True, timeout=1800, check=False
    )
    assert done.returncode == 0, done.stdout[-20000:] + done.stderr[-5000:]


AUTH_MODES = ["bearer", "none", "garbage"]


def _authorization(mode: str, session: dict[str, str]) -> str | None:
    return {"bearer": f"Bearer {session['access']}", "none": None, "garbage": "Bearer not.a.token"}[mode]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("mode", AUTH_MODES)
def test_openapi_conformance(server: LiveServer, session: dict[str, str], mode: str) -> None:
    run_schemathesis(
        server,
        _authorization(mode, session),
        session["otp_id"],
        examples=20,
        passkey_id=session["passkey_id"],
        device_id=session["device_id"],
        session_id=session["session_id"],
    )


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.skipif(not LONG, reason="long fuzzing runs under `make fuzz` (TWOSTEP_FUZZ=long)")
@pytest.mark.parametrize("mode", AUTH_MODES)
def test_openapi_conformance_long(server: LiveServer, session: dict[str, str], mode: str) -> None:
    run_schemathesis(
        server,
        _authorization(mode, session),
        session["otp_id"],
        examples=500,
        passkey_id=session["passkey_id"],
        device_id=session["device_id"],
        session_id=session["session_id"],
    )


@pytest.fixture(scope="module")
def verification_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`twostep serve --app verification`: Flowroute sms-verification's API alone at `/` (dev stage, no API key needed)."""
    with live_server(
        tmp_path_factory.mktemp("schemathesis-verification"),
        app="verification",
        TWOSTEP_IP_VERIFY_CREATE_PER_HOUR="100000",
        TWOSTEP_RESEND_COOLDOWN_SECONDS="0",
    ) as running:
        yield running


@pytest.mark.timeout(600)
def test_standalone_verification_api_conformance(verification_server: LiveServer) -> None:
    run_schemathesis(verification_server, None, "unused", examples=20)


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.skipif(not LONG, reason="long fuzzing runs under `make fuzz` (TWOSTEP_FUZZ=long)")
def test_standalone_verification_api_conformance_long(verification_server: LiveServer) -> None:
    run_schemathesis(verification_server, None, "unused", examples=500)

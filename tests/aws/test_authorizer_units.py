"""The authorizer's edges without AWS: import hygiene (cold start), token extraction, fail-closed answers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.aws.events import http_v2_authorizer_event, request_event, token_event
from twostep.aws import authorizer

pytestmark = pytest.mark.aws
ROOT = Path(__file__).resolve().parents[2]


def test_cold_start_reaches_allow_without_loading_heavy_modules() -> None:
    """bench/authorizer_cold_start.py in a fresh interpreter: Allow, and no web framework/storage/argon2."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "authorizer_cold_start.py"), "--runs", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    measured = json.loads(result.stdout)
    assert measured["effect"] == ["Allow"]
    assert measured["heavy_modules"] == []


@pytest.fixture
def broken_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """Settings whose key file cannot be read: the authorizer cannot build its verifier."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keys.json").write_text("not json")
    monkeypatch.setenv("TWOSTEP_JWT_KEY_FILE", str(tmp_path / "keys.json"))
    authorizer.reset()
    yield
    authorizer.reset()


def test_unloadable_keys_fail_closed_with_a_server_error(broken_keys: None) -> None:
    with pytest.raises(authorizer.AuthorizerUnavailable):
        authorizer.handler(token_event("Bearer a.b.c"), None)
    with pytest.raises(authorizer.AuthorizerUnavailable):
        authorizer.handler(http_v2_authorizer_event({"authorization": "Bearer a.b.c"}), None)


def test_missing_token_is_refused_before_any_key_is_needed(broken_keys: None) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.handler(request_event({}), None)
    assert authorizer.handler(http_v2_authorizer_event({}), None) == {"isAuthorized": False}


@pytest.mark.parametrize("event", [None, [], "x", {"type": "TOKEN"}, {"type": "REQUEST", "headers": None}])
def test_malformed_events_are_unauthorized(event: Any, broken_keys: None) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorizer.handler(event, None)


def test_token_extraction_in_every_form() -> None:
    assert authorizer.token_from(token_event("Bearer abc")) == "abc"
    assert authorizer.token_from(token_event("bearer abc")) == "abc"
    assert authorizer.token_from(token_event("abc")) == "abc"
    assert authorizer.token_from(request_event({"aUtHoRiZaTiOn": "Bearer abc"})) == "abc"
    assert authorizer.token_from(http_v2_authorizer_event({"authorization": "abc"})) == "abc"
    assert authorizer.token_from(request_event({"X-Other": "Bearer abc"})) is None


def test_policy_resource_covers_the_stage() -> None:
    arn = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/POST/messages"
    assert authorizer.stage_resource(arn) == "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/*"
    assert authorizer.stage_resource("not-an-arn") == "not-an-arn"

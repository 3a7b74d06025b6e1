"""`SharedSession`: the parts of one container share one boto3 session, made on first need."""

from __future__ import annotations

from typing import Any

import pytest

from twostep.aws_session import SharedSession, aws_session
from twostep.domain.errors import ConfigurationError


def test_the_session_is_made_when_first_asked_for_and_then_shared(boto3_sessions: list[Any]) -> None:
    shared = SharedSession("eu-west-1")
    assert boto3_sessions == []
    first = aws_session(shared, None, "the storage")
    second = aws_session(shared, "ignored", "the key source")
    assert first is second is boto3_sessions[0] and len(boto3_sessions) == 1
    assert first.region_name == "eu-west-1"


def test_without_a_region_every_part_is_told_what_needs_one(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    shared = SharedSession(None)
    for part in ("TWOSTEP_STORAGE=dynamodb", "TWOSTEP_SECRET_ARN"):
        with pytest.raises(ConfigurationError, match=part):
            aws_session(shared, None, part)

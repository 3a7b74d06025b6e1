"""On Lambda the funnel, limits and budget leave as CloudWatch embedded-metric documents on stdout."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.aws.conftest import AwsMode
from tests.aws.test_aws_mode import sign_in
from twostep.aws.emf import NAMESPACE, EmfMetrics

pytestmark = pytest.mark.aws


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for line in text.splitlines() if line.startswith("{") and "_aws" in (doc := json.loads(line))]


def check_emf(doc: dict[str, Any]) -> None:
    """The rules CloudWatch applies: every named metric and dimension is a top-level member."""
    meta = doc["_aws"]
    assert isinstance(meta["Timestamp"], int)
    for directive in meta["CloudWatchMetrics"]:
        assert directive["Namespace"] == NAMESPACE
        for dimension_set in directive["Dimensions"]:
            assert all(isinstance(doc[name], str) for name in dimension_set)
        for metric in directive["Metrics"]:
            assert isinstance(doc[metric["Name"]], int | float)


def test_a_sign_in_writes_its_funnel(aws_mode: AwsMode, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    sign_in(aws_mode)
    docs = documents(capsys.readouterr().out)
    for doc in docs:
        check_emf(doc)
    totals: dict[str, float] = {}
    for doc in docs:
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                totals[metric["Name"]] = totals.get(metric["Name"], 0) + doc[metric["Name"]]
    assert totals["CodeRequested"] == 1 and totals["CodeSent"] == 1 and totals["CodeVerified"] == 1
    assert totals["SmsBudgetUsed"] == 1 and 0 < totals["SmsBudgetUsedPercent"] <= 100
    sent = next(doc for doc in docs if "CodeSent" in doc)
    assert (sent["Country"], sent["Purpose"]) == ("TR", "login")


def test_figures_are_summed_per_invocation_and_written_once() -> None:
    lines: list[str] = []
    metrics = EmfMetrics(write=lines.append)
    for _ in range(3):
        metrics.limit_refused("ip_login_rate")
    metrics.flush()
    metrics.flush()  # nothing new: nothing written
    (doc,) = [json.loads(line) for line in lines]
    check_emf(doc)
    assert (doc["LimitRefused"], doc["Limit"]) == (3, "ip_login_rate")

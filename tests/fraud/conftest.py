"""Fixtures for the fraud guard tests: a container with every guard on, at its defaults unless a test
says otherwise (tests/conftest.py turns the velocity caps and prefix blocking off for other suites)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from twostep.container import Container

GUARD_ON: dict[str, Any] = {
    "ip_sms_per_hour": 10,
    "account_sms_per_day": 10,
    "fraud_guard": True,
}

MakeGuarded = Callable[..., Container]


@pytest.fixture
def guarded(make_container: Callable[..., Container]) -> MakeGuarded:
    def make(**overrides: Any) -> Container:
        return make_container(**{**GUARD_ON, **overrides})

    return make


def mobile(i: int, block: str = "+49151123") -> str:
    """A valid German mobile number per `i`; the numbers of one `block` share one fraud-guard prefix."""
    return f"{block}{i:05d}"

"""Unknown email and wrong password cost the same: a statistical property, not a speed assertion."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import pytest

from tests.conftest import PASSWORD, PHONE
from twostep.container import Container
from twostep.domain.errors import InvalidCredentials
from twostep.domain.models import NO_CONTEXT
from twostep.services.registration import Registration

SAMPLES = 30
ATTEMPTS = 3
MAX_RELATIVE_DIFFERENCE = 0.10


def _timed_failure(container: Container, email: str) -> float:
    started = time.perf_counter()
    with pytest.raises(InvalidCredentials):
        container.login.start(email, "not the right password")
    elapsed = time.perf_counter() - started
    # Outside the timing: a right password now would forget this client's failures (no delay starts).
    container.limits.login_succeeded(container.limits.begin_login(email, NO_CONTEXT))
    return elapsed


def _relative_median_difference(container: Container) -> float:
    known: list[float] = []
    unknown: list[float] = []
    for i in range(SAMPLES):  # interleaved, so load on the machine hits both series alike
        pair = [("known", "known@example.com"), ("unknown", f"nobody{i}@example.com")]
        for kind, email in pair if i % 2 else reversed(pair):
            (known if kind == "known" else unknown).append(_timed_failure(container, email))
    a, b = statistics.median(known), statistics.median(unknown)
    return abs(a - b) / max(a, b)


def test_unknown_email_costs_the_same_as_a_wrong_password(make_container: Callable[..., Container]) -> None:
    container = make_container()
    container.registration.register(
        Registration(email="known@example.com", password=PASSWORD, first_name="A", last_name="B", phone=PHONE)
    )
    differences = []
    for _ in range(ATTEMPTS):  # a busy neighbour can spoil one measurement; all three failing is a leak
        differences.append(_relative_median_difference(container))
        if differences[-1] < MAX_RELATIVE_DIFFERENCE:
            return
    pytest.fail(f"median times differ by {[f'{d:.1%}' for d in differences]} (limit 10 %)")

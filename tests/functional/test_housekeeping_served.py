"""Housekeeping as a served app runs it: the background task, every TWOSTEP_HOUSEKEEPING_INTERVAL_SECONDS."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from twostep.api.app import create_app
from twostep.api.lifespan import serving_lifespan
from twostep.container import Container
from twostep.domain.clock import FixedClock
from twostep.domain.models import OutboxEntry

PHONE = "+905555555555"


def old_messages(container: Container, clock: FixedClock, count: int) -> None:
    for n in range(count):
        sent = clock.now() - timedelta(days=8, seconds=n)  # past the outbox's week
        container.storage.add_outbox(OutboxEntry(PHONE, f"old {n}", sent))


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_the_background_task_keeps_up_with_more_than_a_batch_an_interval(
    make_container: Callable[..., Container], clock: FixedClock
) -> None:
    """Before, the server deleted one batch of each kind per interval (500 rows every 5 minutes by
    default, 144,000 a day) however many had expired: a deployment whose rate-limit counters (several a
    sign-in) expired faster fell behind for good, and its tables grew without end. A tick now takes
    batches in a row while a kind fills its batch (up to a cap)."""
    container = make_container(housekeeping_interval_seconds=1, housekeeping_batch=10)
    old_messages(container, clock, 95)
    with TestClient(create_app(container, lifespan=serving_lifespan(container))):
        assert wait_for(lambda: container.storage.list_outbox(last=200) == [], seconds=1.9)


def test_a_tick_that_cannot_catch_up_says_so(
    make_container: Callable[..., Container], clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    container = make_container(housekeeping_batch=10)
    old_messages(container, clock, 250)  # more than the cap's 20 full runs of 10
    with caplog.at_level(logging.WARNING, logger="twostep.housekeeping"):
        deleted = container.housekeeping.catch_up()
    assert deleted["outbox"] == 200
    assert len(container.storage.list_outbox(last=100)) == 50
    assert "housekeeping is behind" in caplog.text and "TWOSTEP_HOUSEKEEPING_BATCH" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="twostep.housekeeping"):
        assert container.housekeeping.catch_up()["outbox"] == 50
    assert "behind" not in caplog.text

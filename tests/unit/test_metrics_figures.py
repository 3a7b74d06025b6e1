"""What the core reports through the metrics port, read back from the Prometheus adapter's registry:
expired and undelivered codes, limit refusals, the budget, the hashing queue returning to zero."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.adversarial.faultkit import BrokenSender
from tests.conftest import PASSWORD, PHONE, latest_code, register, settings_for_tests
from twostep.api.app import create_app
from twostep.api.metrics_prometheus import PrometheusMetrics
from twostep.container import Container, build
from twostep.domain.clock import FixedClock
from twostep.storage.memory import MemoryStorage


def value(metrics: PrometheusMetrics, name: str, **labels: str) -> float:
    assert metrics.registry is not None
    return metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def wired(tmp_path: Path, clock: FixedClock) -> Iterator[tuple[Container, PrometheusMetrics]]:
    metrics = PrometheusMetrics()
    settings = settings_for_tests(tmp_path, ip_login_per_minute=3, sms_hourly_budget=50)
    container = build(settings, clock=clock, storage=MemoryStorage(), metrics=metrics)
    yield container, metrics
    container.close()


def login(client: TestClient, email: str = "test@example.com") -> str:
    response = client.post("/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["otpId"])


def test_expired_codes_refusals_budget_and_queue(
    wired: tuple[Container, PrometheusMetrics], clock: FixedClock
) -> None:
    container, metrics = wired
    with TestClient(create_app(container)) as client:
        register(client)
        otp_id = login(client)
        code = latest_code(container)
        clock.advance(container.settings.otp_ttl_seconds + 1)
        assert client.post(f"/otp/{otp_id}/verify", json={"otp": code}).status_code == 410
        for _ in range(4):  # the 4th in this minute passes the limit of 3
            client.post("/login", json={"email": "nobody@example.com", "password": "not it at all"})
    labels = {"purpose": "login", "country": "TR", "provider": "console"}
    assert value(metrics, "twostep_codes_total", stage="expired", **labels) == 1
    assert value(metrics, "twostep_codes_total", stage="sent", **labels) == 1
    assert value(metrics, "twostep_limit_refusals_total", limit="ip_login_rate") >= 1
    assert value(metrics, "twostep_sms_budget_used") == 1
    assert value(metrics, "twostep_sms_budget") == 50
    assert value(metrics, "twostep_password_hash_queue") == 0  # every hash that waited has run


def test_undelivered_codes(tmp_path: Path, clock: FixedClock) -> None:
    metrics = PrometheusMetrics()
    settings = settings_for_tests(tmp_path)
    container = build(settings, clock=clock, storage=MemoryStorage(), sender=BrokenSender(), metrics=metrics)
    with TestClient(create_app(container)) as client:
        register(client, phone=PHONE)
        assert (
            client.post("/login", json={"email": "test@example.com", "password": PASSWORD}).status_code == 503
        )
    container.close()
    labels = {"purpose": "login", "country": "TR", "provider": "broken"}
    assert value(metrics, "twostep_codes_total", stage="undelivered", **labels) == 1
    assert value(metrics, "twostep_codes_total", stage="requested", **labels) == 1


def test_every_metric_is_documented_with_its_labels() -> None:
    """Before, `twostep_delivery_receipts_total` was missing from the metrics table of docs/operations.md
    (and docs/delivery-receipts.md named it without its `_total`, a name no scrape shows): an operator
    reading the table did not know it existed. Every metric the adapter registers is now in the table, with
    its labels."""
    table = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    rows = {
        cells[1].strip("` "): cells[2]
        for cells in (line.split("|") for line in table.splitlines())
        if len(cells) > 3 and cells[1].strip().startswith("`twostep_")
    }
    documented = {name.strip("` "): labels for names, labels in rows.items() for name in names.split(",")}
    from prometheus_client.metrics import MetricWrapperBase

    registered = [m for m in vars(PrometheusMetrics()).values() if isinstance(m, MetricWrapperBase)]
    assert len(registered) >= 8
    for metric in registered:
        name = metric._name + ("_total" if metric._type == "counter" else "")
        assert name in documented, name
        for label in metric._labelnames:
            assert label in documented[name], (name, label)

"""The metrics port implemented with prometheus-client, the request metrics middleware, and `/metrics`.

One process: the metrics live in this app's own registry. Several worker processes (`twostep serve
--workers N`): `PROMETHEUS_MULTIPROC_DIR` is set before any worker starts, every worker writes its
values there, and whichever worker answers `/metrics` adds them all up (prometheus-client's
multiprocess mode), so a scrape sees the whole server.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from twostep.api.errors import problem
from twostep.api.metrics_folder import multiprocess
from twostep.domain.addresses import unmapped
from twostep.domain.metrics import CodeStage
from twostep.settings import Settings

# Seconds; sign-ins spend most of their time in Argon2 (~50-100 ms a hash) or waiting for a provider.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class PrometheusMetrics:
    """`domain.metrics.Metrics` plus the HTTP figures, in Prometheus form."""

    def __init__(self) -> None:
        # Multiprocess: values go to files, not a registry (a registry per app keeps tests independent).
        self.registry = None if multiprocess() else CollectorRegistry()
        reg: Any = {"registry": self.registry}
        self.requests = Counter(
            "twostep_http_requests", "HTTP requests answered.", ["method", "route", "status"], **reg
        )
        self.latency = Histogram(
            "twostep_http_request_duration_seconds",
            "Time to answer, by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            **reg,
        )
        self.codes = Counter(
            "twostep_codes",
            "One-time code funnel: requested, sent, undelivered, verified, failed (wrong code), expired.",
            ["stage", "purpose", "country", "provider"],
            **reg,
        )
        self.refusals = Counter("twostep_limit_refusals", "Requests refused, by limit.", ["limit"], **reg)
        # live*: what an exited worker last saw leaves the figures (`metrics_folder.forget_worker`); with
        # "max" a dead worker's count from a busy hour stayed the answer for good.
        self.budget_used = Gauge(
            "twostep_sms_budget_used",
            "Texts counted against the hourly budget this hour.",
            multiprocess_mode="livemax",
            **reg,
        )
        self.budget = Gauge(
            "twostep_sms_budget",
            "The hourly SMS budget (TWOSTEP_SMS_HOURLY_BUDGET).",
            multiprocess_mode="livemax",
            **reg,
        )
        self.hash_waiting = Gauge(
            "twostep_password_hash_queue",
            "Password hashes waiting for a hashing thread.",
            multiprocess_mode="livesum",
            **reg,
        )

        self.receipts = Counter(
            "twostep_delivery_receipts",
            "Delivery receipts that moved a sent message's status, by provider and status.",
            ["provider", "status"],
            **reg,
        )
        # The labelled children each request and each code event use, kept: prometheus-client's
        # `labels()` checks and joins the values and takes a lock to find the same child every time.
        # The keys are few: methods (the HTTP parser knows a fixed set), route templates, statuses,
        # and the code funnel's stages, purposes, countries and providers.
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._code_children: dict[tuple[str, str, str, str], Any] = {}

    # --- the core's port ---
    def code_event(self, stage: CodeStage, *, purpose: str, country: str, provider: str) -> None:
        key = (stage, purpose, country, provider)
        child = self._code_children.get(key)
        if child is None:
            child = self._code_children[key] = self.codes.labels(*key)
        child.inc()

    def limit_refused(self, limit: str) -> None:
        self.refusals.labels(limit).inc()

    def sms_budget(self, used: int, budget: int) -> None:
        self.budget_used.set(used)
        self.budget.set(budget)

    def hash_queue(self, waiting: int) -> None:
        self.hash_waiting.set(waiting)

    def delivery_receipt(self, *, provider: str, status: str) -> None:
        self.receipts.labels(provider, status).inc()

    # --- the HTTP edge (`api.request_middleware` observer) ---
    def request_done(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count and time one answered request by method, route template and status."""
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)), self.latency.labels(method, route))
            self._request_children[key] = children
        counted, timed = children
        counted.inc()
        timed.observe(seconds)

    # --- exposition ---
    def render(self) -> bytes:
        if self.registry is not None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


def _allowed(request: Request, settings: Settings) -> Response | None:
    """None when the caller may read the metrics, else the refusal."""
    token = settings.metrics_token
    if token is not None:
        given = request.headers.get("authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if hmac.compare_digest(given.encode(), expected.encode()):
            return None
        return problem(
            401,
            "invalid_token",
            "Send Authorization: Bearer <TWOSTEP_METRICS_TOKEN>.",
            {"WWW-Authenticate": "Bearer"},
        )
    if _proxied(request):
        return problem(
            403,
            "forbidden",
            "Metrics answer loopback callers only unless TWOSTEP_METRICS_TOKEN is set; a request through "
            "a proxy is not one.",
        )
    peer = request.client.host if request.client else ""
    try:  # `::ffff:127.0.0.1` too: a local scrape of a server listening on `::`
        loopback = unmapped(ipaddress.ip_address(peer)).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return None
    return problem(
        403, "forbidden", "Metrics answer loopback callers only unless TWOSTEP_METRICS_TOKEN is set."
    )


# Headers a proxy adds to name its client. A proxy on this host that is not in TWOSTEP_TRUSTED_PROXIES
# (rightly ignored) left the peer 127.0.0.1 for every client it served, so anyone who reached the proxy
# read the metrics; a direct scrape sends none of them.
FORWARDING_HEADERS = frozenset({b"x-forwarded-for", b"forwarded", b"x-real-ip"})


def _proxied(request: Request) -> bool:
    """Whether the request names a client of a proxy (trusted or not): it is no loopback caller then."""
    return any(name in FORWARDING_HEADERS for name, _ in request.scope.get("headers", ()))


def install_prometheus(app: FastAPI, metrics: PrometheusMetrics, settings: Settings) -> None:
    """`GET /metrics` on `app`, and its requests counted and timed (by `api.request_middleware`)."""

    @app.get("/metrics", include_in_schema=False)
    async def metrics_page(request: Request) -> Response:
        refused = _allowed(request, settings)
        if refused is not None:
            return refused
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    app.state.request_observers.append(metrics.request_done)

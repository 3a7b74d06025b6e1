"""The metrics port: what the core reports, without knowing who collects it (Prometheus, CloudWatch).

Labels are small closed sets (stages, limit names, ISO countries, configured providers), never ids,
numbers or emails, so a metrics backend's series stay few.
"""

from __future__ import annotations

from typing import Literal, Protocol

# requested: a code was asked for; sent / undelivered: the provider took it or not; verified: the right
# code; failed: a wrong code; expired: a check after the code's lifetime.
CodeStage = Literal["requested", "sent", "undelivered", "verified", "failed", "expired"]


class Metrics(Protocol):
    def code_event(self, stage: CodeStage, *, purpose: str, country: str, provider: str) -> None:
        """One step of the one-time-code funnel."""
        ...

    def limit_refused(self, limit: str) -> None:
        """A request refused by the named limit (`ip_login_rate`, `sms_hourly_budget`…)."""
        ...

    def sms_budget(self, used: int, budget: int) -> None:
        """Texts counted against the service-wide hourly budget so far this hour."""
        ...

    def hash_queue(self, waiting: int) -> None:
        """Password hashes waiting for a hashing thread (the pool is one thread per core)."""
        ...

    def delivery_receipt(self, *, provider: str, status: str) -> None:
        """A provider's receipt moved a sent message to `status` (sent, delivered, failed, undelivered)."""
        ...


class NoMetrics:
    """Reports nothing (tests and tools that need no metrics)."""

    def code_event(self, stage: CodeStage, *, purpose: str, country: str, provider: str) -> None:
        return None

    def limit_refused(self, limit: str) -> None:
        return None

    def sms_budget(self, used: int, budget: int) -> None:
        return None

    def hash_queue(self, waiting: int) -> None:
        return None

    def delivery_receipt(self, *, provider: str, status: str) -> None:
        return None


NO_METRICS = NoMetrics()

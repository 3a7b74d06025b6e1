"""The code funnel's metrics (requested, sent, undelivered, expired, failed, verified), counted the same
way by issuing and checking."""

from __future__ import annotations

from twostep.domain.identity import phone_country
from twostep.domain.metrics import CodeStage, Metrics
from twostep.domain.ports import SmsSender


class CodeFunnel:
    def __init__(self, metrics: Metrics, sender: SmsSender) -> None:
        self._metrics, self._sender = metrics, sender

    def count(self, stage: CodeStage, purpose: str, phone: str | None) -> None:
        """One step of the code funnel; emailed codes count under provider "email"."""
        country = (phone_country(phone) or "unknown") if phone else "none"
        provider = self._sender.name if phone else "email"
        self._metrics.code_event(stage, purpose=purpose, country=country, provider=provider)

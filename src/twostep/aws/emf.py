"""The metrics port on Lambda: CloudWatch embedded metric format (EMF) lines on stdout.

Lambda sends stdout to CloudWatch Logs, which turns each EMF document into metrics: no agent, no API
call, no SDK import on the request path (Powertools' Metrics would add its import to every cold start
for the same JSON). Figures are summed per invocation and written once when it ends (`flush`).
Names and dimensions match the alarms in template.yaml.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from twostep.domain.metrics import CodeStage

NAMESPACE = "twostep"
_STAGE_METRIC = {
    "requested": "CodeRequested",
    "sent": "CodeSent",
    "undelivered": "CodeUndelivered",
    "verified": "CodeVerified",
    "failed": "CodeFailed",
    "expired": "CodeExpired",
}
# Each metric is published once for the whole service (what the alarms watch) and once by its details.
_Key = tuple[str, str, tuple[tuple[str, str], ...]]


class EmfMetrics:
    def __init__(self, service: str = "twostep", write: Callable[[str], Any] | None = None) -> None:
        self.service = service  # the Service dimension; the handler sets twostep-<stage>
        self._write = write or (lambda line: (sys.stdout.write(line + "\n"), sys.stdout.flush()))
        self._lock = threading.Lock()
        self._sums: dict[_Key, float] = {}
        self._gauges: dict[_Key, float] = {}

    def _add(self, name: str, unit: str, value: float, gauge: bool = False, **details: str) -> None:
        key = (name, unit, tuple(sorted(details.items())))
        with self._lock:
            if gauge:
                self._gauges[key] = value
            else:
                self._sums[key] = self._sums.get(key, 0.0) + value

    # --- the core's port ---
    def code_event(self, stage: CodeStage, *, purpose: str, country: str, provider: str) -> None:
        self._add(_STAGE_METRIC[stage], "Count", 1, Purpose=purpose, Country=country, Provider=provider)

    def limit_refused(self, limit: str) -> None:
        self._add("LimitRefused", "Count", 1, Limit=limit)

    def sms_budget(self, used: int, budget: int) -> None:
        self._add("SmsBudgetUsed", "Count", used, gauge=True)
        if budget > 0:
            self._add("SmsBudgetUsedPercent", "Percent", 100.0 * used / budget, gauge=True)

    def hash_queue(self, waiting: int) -> None:
        return None  # one request at a time per Lambda instance: there is never a queue

    def delivery_receipt(self, *, provider: str, status: str) -> None:
        self._add("DeliveryReceipt", "Count", 1, Provider=provider, Status=status)

    # --- output ---
    def flush(self) -> None:
        """Write what this invocation measured, one EMF document per set of dimension values."""
        with self._lock:
            figures = list(self._sums.items()) + list(self._gauges.items())
            self._sums, self._gauges = {}, {}
        for (name, unit, details), value in figures:
            self._write(json.dumps(self._document(name, unit, dict(details), value)))

    def _document(self, name: str, unit: str, details: dict[str, str], value: float) -> dict[str, Any]:
        dimension_sets = [["Service"]] + ([["Service", *details]] if details else [])
        return {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": dimension_sets,
                        "Metrics": [{"Name": name, "Unit": unit}],
                    }
                ],
            },
            "Service": self.service,
            **details,
            name: value,
        }

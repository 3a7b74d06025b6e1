"""The money budget for text messages: segments times the destination's price, per hour and per day,
for the whole service and per country; a hard stop when one is spent.

Counted in millionths of a dollar on the atomic counters, taken before sending and given back when the
send is refused anyway, like every other limit. A spent budget is a 503 (the service cannot text, not
the caller's fault) and an alert line in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import NoReturn

from twostep.domain.errors import SmsBudgetExhausted
from twostep.domain.identity import phone_country
from twostep.domain.models import RequestContext
from twostep.services.counting import DAY, HOUR, Ask, CounterGate
from twostep.services.sms_prices import price_table

logger = logging.getLogger("twostep.limits")


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    """Prices and budgets in micro-dollars; a budget of None is unlimited."""

    prices: Mapping[str, int] = field(default_factory=price_table)
    hourly: int | None = None
    daily: int | None = None
    country_hourly: Mapping[str, int] = field(default_factory=dict)
    country_daily: Mapping[str, int] = field(default_factory=dict)


class SmsBudget:
    def __init__(self, gate: CounterGate, policy: BudgetPolicy) -> None:
        self._gate = gate
        self._policy = policy

    @property
    def policy(self) -> BudgetPolicy:
        return self._policy

    def cost(self, phone: str, segments: int) -> int:
        """What sending `segments` segments to `phone` costs, in micro-dollars."""
        prices = self._policy.prices
        country = phone_country(phone) or "*"
        return max(1, segments) * prices.get(country, prices.get("*", 0))

    def asks(self, phone: str, segments: int, ctx: RequestContext) -> list[Ask]:
        """The send's cost from every budget that applies; a refusal raises `SmsBudgetExhausted`."""
        cost = self.cost(phone, segments)
        country = phone_country(phone) or "*"
        p = self._policy
        asks = []
        for name, key, window, limit in (
            ("daily", "budget:all", DAY, p.daily),
            ("hourly", "budget:all", HOUR, p.hourly),
            (f"{country}_daily", f"budget:{country}", DAY, p.country_daily.get(country)),
            (f"{country}_hourly", f"budget:{country}", HOUR, p.country_hourly.get(country)),
        ):
            if limit is None:
                continue
            windowed, end = self._gate.window_key(key, window)
            refuse = partial(self._exhausted, name, ctx=ctx)
            asks.append(Ask(windowed, end, limit, f"sms_budget_{name}", window, amount=cost, refuse=refuse))
        return asks

    def _exhausted(self, name: str, retry_after: int, *, ctx: RequestContext) -> NoReturn:
        self._gate.audit.record("limit_hit", ctx=ctx, limit=f"sms_budget_{name}")
        self._gate.metrics.limit_refused(f"sms_budget_{name}")
        # The line to alert on: real users get no codes until the window ends or the budget is raised.
        logger.error(
            "ALERT sms budget exhausted: no text messages are sent until it resets",
            extra={"budget": name, "retry_after": retry_after},
        )
        raise SmsBudgetExhausted(name, retry_after)

"""Limits over atomic storage counters: a refused attempt never keeps a unit.

Fixed windows: a counter's key names its window, and the counter expires with it. A step's limits are
taken together in one storage request that applies all or nothing (`take_all`, `change_counters`), so
concurrent callers can never all slip under a cap and a refusal takes nothing. The one-at-a-time path
(`take`) increments *before* deciding and gives back what it took when refusing (a compensating
decrement). Either way a refusal never eats a budget, another cap, or extends a delay. Every refusal
raises `RateLimited` with the limit's name and the seconds until it lifts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NoReturn

from twostep.domain.clock import Clock
from twostep.domain.counter_batch import CounterChange, Unless
from twostep.domain.errors import RateLimited
from twostep.domain.metrics import NO_METRICS, Metrics
from twostep.domain.models import RequestContext
from twostep.domain.ports import CounterStore
from twostep.services.audit import AuditService
from twostep.services.limit_report import CALLERS_OWN, note_limit

logger = logging.getLogger("twostep.limits")

MINUTE, HOUR, DAY = 60, 3600, 86400

MESSAGES = {
    "ip_login_rate": "Too many sign-in attempts from this network; try again later.",
    "ip_register_rate": "Too many sign-ups from this network; try again later.",
    "ip_verification_create_rate": "Too many verification requests from this network; try again later.",
    "account_login_delay": "Too many failed sign-ins for this email; wait before trying again.",
    "account_login_cap": "Too many failed sign-ins for this email from many places; wait before trying again.",
    "second_factor_locked": (
        "Too many wrong codes for this account; the second sign-in step is locked until an "
        "administrator unlocks it."
    ),
    "reset_wrong_codes_day": "Too many wrong reset codes for this email today; try again tomorrow.",
    "reset_wrong_codes_client_day": (
        "Too many wrong reset codes for this email from this network today; try again tomorrow."
    ),
    "reset_wrong_codes_device_day": (
        "Too many wrong reset codes for this email from its remembered devices today; try again tomorrow."
    ),
    "reset_requests_day": "Too many password resets were asked for this email today; try again tomorrow.",
    "reset_requests_client_day": (
        "Too many password resets were asked for this email from this network today; try again tomorrow."
    ),
    "reset_requests_device_day": (
        "Too many password resets were asked for this email from its remembered devices today; try again "
        "tomorrow."
    ),
    "resend_cooldown": "A code was just sent to this number; wait before asking for another.",
    "sms_per_number_10min": "Too many codes sent to this number in the last minutes; try again later.",
    "sms_per_number_day": "Too many codes sent to this number today; try again later.",
    "email_cooldown": "A code was just sent to this address; wait before asking for another.",
    "email_per_address_10min": "Too many codes sent to this address in the last minutes; try again later.",
    "email_per_address_day": "Too many codes sent to this address today; try again later.",
    "sms_hourly_budget": "The service has sent all the text messages it may send this hour; try again later.",
    "ip_sms_rate": "Too many text messages requested from this network; try again later.",
    "account_sms_day": "Too many codes sent for this account today; try again tomorrow.",
    "account_notice_day": "Too many account notices sent by text for this account today.",
    "tenant_sms_hour": "This API key has sent all the text messages it may send this hour.",
    "tenant_sms_day": "This API key has sent all the text messages it may send today.",
}


@dataclass(frozen=True, slots=True)
class Held:
    """Units taken from a counter; `expires_at` is passed again when giving them back."""

    key: str
    expires_at: datetime
    amount: int = 1
    value: int = 0  # the counter's value once these units were taken (budget use for the metrics)


@dataclass(frozen=True, slots=True)
class Ask:
    """What one request takes from one limit, for `CounterGate.take_all`.

    `limit` None: only counted (never refuses). `window`: the seconds the limit counts over (default:
    until `expires_at`, a cooldown's). `refuse` replaces the default refusal (`RateLimited` naming
    `name`) with the caller's; it gets the seconds until the counter ends. `read`: the caller needs the
    value (limits that count the caller itself are always read, for the RateLimit fields).
    """

    key: str
    expires_at: datetime
    limit: int | None
    name: str = ""
    window: int | None = None
    amount: int = 1
    who: Mapping[str, str] = field(default_factory=dict)
    refuse: Callable[[int], NoReturn] | None = None
    read: bool = False

    def change(self) -> CounterChange:
        read = self.read or (self.limit is not None and self.name.startswith(CALLERS_OWN))
        return CounterChange(self.key, self.amount, self.expires_at, self.limit, read=read)


@dataclass(slots=True)
class Alongside:
    """Counter changes another step owes, sent with the next limited batch to save a storage request.

    `unless`: guards of those changes (the batch takes nothing while one holds). `settle_alone`: the
    owing step's own way, which applies the changes by themselves and raises what that step raises;
    `settle` runs it unless the changes were applied already (once at most).
    """

    changes: tuple[CounterChange, ...]
    unless: tuple[Unless, ...]
    settle_alone: Callable[[], None]
    settled: bool = False

    def settle(self) -> None:
        if not self.settled:
            self.settled = True
            self.settle_alone()


def seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


def window_of(now: datetime, seconds: int) -> tuple[int, datetime]:
    """The start (UNIX seconds) and the end of the fixed window of `seconds` that holds `now`."""
    start = math.floor(now.timestamp() / seconds) * seconds
    return start, datetime.fromtimestamp(start + seconds, tz=now.tzinfo)


class CounterGate:
    """Taking from counters, giving back, and refusing (audited) with `RateLimited`."""

    def __init__(
        self, counters: CounterStore, clock: Clock, audit: AuditService, metrics: Metrics = NO_METRICS
    ) -> None:
        self.counters = counters
        self.clock = clock
        self.audit = audit
        self.metrics = metrics

    def try_take(self, key: str, expires_at: datetime, limit: int, amount: int = 1) -> Held | int:
        """Take `amount` of `key`: the held units, or (given back) the seconds until the counter ends."""
        now = self.clock.now()
        value = self.counters.increment_counter(key, amount, now, expires_at)
        held = Held(key, expires_at, amount, value)
        if value <= limit:
            return held
        self.release(held)
        live = self.counters.get_counter(key, now)
        return seconds_until(live.expires_at if live else expires_at, now)

    def take(
        self,
        key: str,
        expires_at: datetime,
        limit: int,
        name: str,
        ctx: RequestContext,
        *,
        window: int | None = None,
        **who: str,
    ) -> Held:
        """Take one unit of `key`, or give it back and refuse when that would pass `limit`.

        `window`: the seconds `limit` counts over (default: from now until `expires_at`, a cooldown's)."""
        now = self.clock.now()
        window = window or seconds_until(expires_at, now)
        taken = self.try_take(key, expires_at, limit)
        if isinstance(taken, Held):
            note_limit(name, limit, window, taken.value, seconds_until(expires_at, now))
            return taken
        self.refuse(name, taken, ctx, quota=limit, window=window, **who)

    def take_all(
        self, asks: Sequence[Ask], ctx: RequestContext, unless: Sequence[Unless] = ()
    ) -> list[Held] | None:
        """Take from every limit of `asks` in one storage request, or refuse without taking anything:
        the refusal names the first limit (in the order given) the request would pass.

        Returns the held units in the order of `asks` (`value` 0 where the storage did not read it);
        None, having taken nothing, when a record of `unless` holds (the caller says why).
        Raises: RateLimited, or what an ask's `refuse` raises.
        """
        now = self.clock.now()
        batch = self.counters.change_counters([ask.change() for ask in asks], now, unless)
        if batch.stopped:
            return None
        if batch.refused is not None:
            ask = asks[batch.refused]
            retry_after = seconds_until(batch.expiries[batch.refused] or ask.expires_at, now)
            if ask.refuse is not None:
                ask.refuse(retry_after)
            window = ask.window or seconds_until(ask.expires_at, now)
            self.refuse(ask.name, retry_after, ctx, quota=ask.limit, window=window, **ask.who)
        return self._held(asks, batch.values, now)

    def take_all_alongside(
        self, asks: Sequence[Ask], alongside: Alongside, unless: Sequence[Unless] = ()
    ) -> list[Held] | None:
        """`take_all` with `alongside`'s changes and guards in the same storage request, all or nothing.

        Returns the held units of `asks`; None, having changed, recorded and refused nothing, when a
        limit would refuse or any guard holds: the caller then takes the step by step way.
        """
        now = self.clock.now()
        changes = [*(ask.change() for ask in asks), *alongside.changes]
        batch = self.counters.change_counters(changes, now, [*unless, *alongside.unless])
        if batch.stopped or batch.refused is not None:
            return None
        alongside.settled = True
        return self._held(asks, batch.values[: len(asks)], now)

    @staticmethod
    def _held(asks: Sequence[Ask], values: Sequence[int | None], now: datetime) -> list[Held]:
        held = []
        for ask, value in zip(asks, values, strict=True):
            # Only the caller's own limits are reported (`note_limit`): the others' windows not worked out.
            if ask.limit is not None and value is not None and ask.name.startswith(CALLERS_OWN):
                window = ask.window or seconds_until(ask.expires_at, now)
                note_limit(ask.name, ask.limit, window, value, seconds_until(ask.expires_at, now))
            held.append(Held(ask.key, ask.expires_at, ask.amount, value or 0))
        return held

    def window_ask(self, key: str, window: int, limit: int, name: str, **who: str) -> Ask:
        """An ask of one unit from `key`'s current window of `window` seconds."""
        windowed, end = self.window_key(key, window)
        return Ask(windowed, end, limit, name, window, who=who)

    def take_window(
        self, key: str, window: int, limit: int, name: str, ctx: RequestContext, **who: str
    ) -> Held:
        windowed, end = self.window_key(key, window)
        return self.take(windowed, end, limit, name, ctx, window=window, **who)

    def window_key(self, key: str, window: int) -> tuple[str, datetime]:
        """The key of `key`'s current window of `window` seconds, and when that window ends."""
        start, end = window_of(self.clock.now(), window)
        return f"{key}@{window}:{start}", end

    def release(self, held: Held) -> None:
        self.counters.increment_counter(held.key, -held.amount, self.clock.now(), held.expires_at)

    def refuse(
        self,
        name: str,
        retry_after: int,
        ctx: RequestContext,
        *,
        quota: int | None = None,
        window: int | None = None,
        **who: str,
    ) -> NoReturn:
        """Raises: RateLimited naming the limit, with its quota and window (`quota` None: 1)."""
        self.audit.record("limit_hit", ctx=ctx, limit=name, **who)
        self.metrics.limit_refused(name)
        if name == "sms_hourly_budget":  # something for operators to alert on: the service stopped texting
            logger.warning("sms hourly budget exhausted", extra={"limit": name, "retry_after": retry_after})
        raise RateLimited(name, retry_after, MESSAGES.get(name), quota=quota or 1, window=window)

"""The SMS pumping guard: number blocks whose codes are sent but never used get no more codes for a while.

Per destination prefix (country code and leading digits, last four dropped) it keeps a rolling count of
codes sent and codes verified: the current fixed window plus the previous one weighted by how much of it
still overlaps the last `window_seconds`. Real users type most codes they get; an attacker who earns a
share of the termination fees of a number block never does. Once a prefix's current window has
`min_sends` sends, each further send judges it: a verified/sent ratio under `min_conversion` blocks it
for `block_seconds` (stored, so `twostep fraud status` can list it and `twostep fraud unblock` lift
it); sends to a blocked prefix are refused before anything is taken or sent. Numbers and prefixes on
the safe list are never blocked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from twostep.domain.counter_batch import CounterChange, Unless, unless_blocked
from twostep.domain.errors import DestinationBlocked, InvalidInput, NotFound
from twostep.domain.models import RequestContext
from twostep.domain.numbers import NumberPrefix, destination_prefix
from twostep.domain.ports import PrefixBlock, PrefixBlockStore
from twostep.services.counting import Ask, CounterGate, seconds_until, window_of

logger = logging.getLogger("twostep.fraud")


@dataclass(frozen=True, slots=True)
class FraudPolicy:
    enabled: bool = True
    min_sends: int = 20
    min_conversion: float = 0.2
    window_seconds: int = 3600
    block_seconds: int = 6 * 3600
    safe_list: tuple[str, ...] = ()  # E.164 numbers or prefixes (`+49151`)


@dataclass(frozen=True, slots=True)
class PrefixTraffic:
    sent: float
    verified: float


def traffic_key(kind: str, prefix: str, window: int, start: int) -> str:
    """The counter of `kind` (sent, verified) codes for `prefix` in the window starting at `start`."""
    return f"fraud:{kind}:{prefix}@{window}:{start}"


class PrefixGuard:
    def __init__(self, gate: CounterGate, blocks: PrefixBlockStore, policy: FraudPolicy) -> None:
        self._gate = gate
        self._blocks = blocks
        self._policy = policy

    @property
    def policy(self) -> FraudPolicy:
        return self._policy

    def is_safe(self, phone: str) -> bool:
        return any(phone.startswith(entry) for entry in self._policy.safe_list)

    def check(self, phone: str, ctx: RequestContext) -> None:
        """Raises: DestinationBlocked when `phone`'s prefix is blocked (one read)."""
        if not self._policy.enabled or self.is_safe(phone):
            return
        now = self._gate.clock.now()
        block = self._blocks.get_prefix_block(destination_prefix(phone), now)
        if block is not None:
            raise DestinationBlocked(seconds_until(block.until, now))

    def unless_blocked(self, phone: str) -> list[Unless]:
        """The block `check` reads, to read with the send's counters (none when the guard is off)."""
        if not self._policy.enabled or self.is_safe(phone):
            return []
        return [unless_blocked(destination_prefix(phone))]

    def sent_ask(self, phone: str) -> Ask:
        """The count of one send to `phone`'s prefix, to take with the send's other limits (never refuses);
        its value is read only when the guard may judge the prefix."""
        key, expires = self._key("sent", destination_prefix(phone))
        return Ask(key, expires, None, read=self._policy.enabled and not self.is_safe(phone))

    def judge(self, phone: str, sent_now: int, ctx: RequestContext) -> None:
        """Judge `phone`'s prefix once its current window has `min_sends` sends (`sent_now`, this send
        counted). Judging only busy prefixes keeps an ordinary send at one read and one write; a prefix
        being pumped gets there within `min_sends` sends. The send that tips it over still goes out (it
        was admitted); the next one is refused.
        """
        prefix = destination_prefix(phone)
        p = self._policy
        if not p.enabled or self.is_safe(phone) or sent_now < p.min_sends:
            return
        traffic = self.traffic(prefix, sent_now)
        if traffic.sent >= p.min_sends and traffic.verified < p.min_conversion * traffic.sent:
            self._block(prefix, traffic, ctx)

    def record_verified(self, phone: str) -> None:
        self._gate.counters.change_counters([self.verified_change(phone)], self._gate.clock.now())

    def verified_change(self, phone: str) -> CounterChange:
        """The count of a code sent to `phone` that was used (its prefix converts)."""
        key, expires = self._key("verified", destination_prefix(phone))
        return CounterChange(key, 1, expires)

    def _block(self, prefix: str, traffic: PrefixTraffic, ctx: RequestContext) -> None:
        now = self._gate.clock.now()
        until = now + timedelta(seconds=self._policy.block_seconds)
        block = PrefixBlock(prefix, now, until, round(traffic.sent), round(traffic.verified))
        if self._blocks.add_prefix_block(block):  # only the request that blocked it records it
            self._gate.audit.record(
                "destination_blocked",
                ctx=ctx,
                prefix=prefix,
                sent=str(block.sent),
                verified=str(block.verified),
                until=until.isoformat(),
            )
            logger.warning(
                "sms to a number prefix blocked: codes sent there are not being used",
                extra={"prefix": NumberPrefix(prefix), "sent": block.sent, "verified": block.verified},
            )

    def _key(self, kind: str, prefix: str) -> tuple[str, datetime]:
        """The counter of `kind` (sent, verified) for `prefix` in the current window, and its end: kept
        one window longer, so the next window can still weigh it in."""
        window, now = self._policy.window_seconds, self._gate.clock.now()
        start, end = window_of(now, window)
        return traffic_key(kind, prefix, window, start), end + timedelta(seconds=window)

    def traffic(self, prefix: str, sent_now: int | None = None) -> PrefixTraffic:
        """Rolling counts over the last `window_seconds` for `prefix` (`sent_now`: the current window's
        sent count when the caller just got it from its increment)."""
        window, now = self._policy.window_seconds, self._gate.clock.now()
        start, _ = window_of(now, window)
        overlap = 1 - (now.timestamp() - start) / window

        def value(kind: str, begin: int) -> int:
            counter = self._gate.counters.get_counter(traffic_key(kind, prefix, window, begin), now)
            return counter.value if counter else 0

        current_sent = value("sent", start) if sent_now is None else sent_now
        sent = current_sent + value("sent", start - window) * overlap
        verified = value("verified", start) + value("verified", start - window) * overlap
        return PrefixTraffic(sent, verified)

    def blocked(self) -> list[PrefixBlock]:
        """Every prefix blocked now (administration; not on a request path)."""
        return self._blocks.list_prefix_blocks(self._gate.clock.now())

    def unblock(self, prefix: str) -> None:
        """Lift a block (an operator's decision, audited) and start the prefix's counts afresh.

        Raises:
            InvalidInput: `prefix` is not `+` and digits.
            NotFound: the prefix is not blocked.
        """
        if not (prefix.startswith("+") and prefix[1:].isdigit()):
            raise InvalidInput("A prefix is + and digits, like +4477009001.", field="prefix")
        self._reset_counts(prefix)
        if not self._blocks.delete_prefix_block(prefix):
            raise NotFound(f"{prefix} is not blocked.")
        self._gate.audit.record("destination_unblocked", prefix=prefix)
        # `prefix` was a blocked one (the delete found it), so a prefix the guard made, not a number.
        logger.warning("sms prefix unblocked by an operator", extra={"prefix": NumberPrefix(prefix)})

    def _reset_counts(self, prefix: str) -> None:
        window, now = self._policy.window_seconds, self._gate.clock.now()
        start, _ = window_of(now, window)
        for kind in ("sent", "verified"):
            for begin in (start, start - window):
                self._gate.counters.delete_counter(traffic_key(kind, prefix, window, begin))

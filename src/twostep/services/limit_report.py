"""What the limits a request passed have left, for the IETF `RateLimit` fields on successful answers.

A limit that admits a request notes its state here (name, quota, window, what is left, seconds to its
reset); the API edge opens a report per request (`open_report`) and writes the notes as header fields.
Outside a request (the CLI, tests of the services) nothing is open and noting costs one lookup.
The report travels in a context variable holding a mutable object, so notes made in the worker thread
that runs a synchronous endpoint reach the edge that opened it.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class LimitState:
    name: str  # the limit's stable name (never an address or a number)
    quota: int
    window: int | None
    remaining: int
    reset_seconds: int


@dataclass(slots=True)
class LimitReport:
    """The limits one request passed, by name (a limit counted twice keeps its last state)."""

    states: dict[str, LimitState] = field(default_factory=dict)

    def note(self, state: LimitState) -> None:
        self.states[state.name] = state


# Only limits that count the caller itself (its address, its API key) are reported on success: what is
# left of a number's caps, an account's or the whole service's would tell a stranger how many texts others
# asked for. (A refusal names its limit whatever it is; that says no more than the refusal itself.)
CALLERS_OWN = ("ip_", "tenant_")

_current: ContextVar[LimitReport | None] = ContextVar("twostep_limit_report", default=None)


def open_report() -> tuple[LimitReport, Token[LimitReport | None]]:
    """A fresh report for this request; pass the token to `close_report` when the answer is sent."""
    report = LimitReport()
    return report, _current.set(report)


def close_report(token: Token[LimitReport | None]) -> None:
    _current.reset(token)


def note_limit(name: str, quota: int, window: int | None, used: int, reset_seconds: int) -> None:
    """A limit admitted this request: `used` of its `quota` are taken in a window ending in `reset_seconds`."""
    report = _current.get()
    if report is not None and name.startswith(CALLERS_OWN):
        report.note(LimitState(name, quota, window, max(0, quota - used), max(0, reset_seconds)))

"""IETF `RateLimit-Policy` and `RateLimit` header fields (draft-ietf-httpapi-ratelimit-headers) on a 429.

Both are Structured Field lists of one item each, named by the limit's stable name (never an address, a
number or an account): `RateLimit-Policy: "ip_login_rate";q=60;w=60` says the policy (quota `q` per window
`w` seconds; no `w` for a lock without one) and `RateLimit: "ip_login_rate";r=0;t=42` what is left of it
(`r` units, until `t` seconds from now). `Retry-After` stays beside them for clients that know only it.
An admitted request that passed counted limits gets both fields too, one item per limit that counts the
caller itself (its address or API key, `services.limit_report`: never a number's caps or an account's,
which would tell a stranger about others' requests); answers that passed none carry neither.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from twostep.domain.errors import RateLimited
from twostep.services.limit_report import LimitState

# What a limit name may hold; anything else is not a stable name and is not put in a header.
_NAME = re.compile(r"[a-z0-9_]{1,64}")
FALLBACK_NAME = "rate_limit"


def _sf_string(name: str) -> str:
    """A Structured Field String of a limit name (its characters need no escaping)."""
    return f'"{name if _NAME.fullmatch(name) else FALLBACK_NAME}"'


def _policy(name: str, quota: int | None, window: int | None) -> str:
    item = f"{_sf_string(name)};q={max(1, quota or 1)}"
    return item + (f";w={window}" if window else "")


def ratelimit_headers(error: RateLimited) -> dict[str, str]:
    """The two header fields for a refusal by the limit `error.limit`."""
    return {
        "RateLimit-Policy": _policy(error.limit, error.quota, error.window),
        "RateLimit": f"{_sf_string(error.limit)};r=0;t={error.retry_after}",
    }


def report_headers(states: Iterable[LimitState]) -> list[tuple[bytes, bytes]]:
    """The fields for an admitted request: one item per limit it passed, in both fields."""
    states = list(states)
    if not states:
        return []
    policies = ", ".join(_policy(s.name, s.quota, s.window) for s in states)
    current = ", ".join(f"{_sf_string(s.name)};r={s.remaining};t={s.reset_seconds}" for s in states)
    return [(b"ratelimit-policy", policies.encode()), (b"ratelimit", current.encode())]

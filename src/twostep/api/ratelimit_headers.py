"""IETF `RateLimit-Policy` and `RateLimit` header fields (draft-ietf-httpapi-ratelimit-headers) on a 429.

Both are Structured Field lists of one item each, named by the limit's stable name (never an address, a
number or an account): `RateLimit-Policy: "ip_login_rate";q=60;w=60` says the policy (quota `q` per window
`w` seconds; no `w` for a lock without one) and `RateLimit: "ip_login_rate";r=0;t=42` what is left of it
(`r` units, until `t` seconds from now). `Retry-After` stays beside them for clients that know only it.
"""

from __future__ import annotations

import re

from twostep.domain.errors import RateLimited

# What a limit name may hold; anything else is not a stable name and is not put in a header.
_NAME = re.compile(r"[a-z0-9_]{1,64}")
FALLBACK_NAME = "rate_limit"


def _sf_string(name: str) -> str:
    """A Structured Field String of a limit name (its characters need no escaping)."""
    return f'"{name if _NAME.fullmatch(name) else FALLBACK_NAME}"'


def ratelimit_headers(error: RateLimited) -> dict[str, str]:
    """The two header fields for a refusal by the limit `error.limit`."""
    name = _sf_string(error.limit)
    policy = f"{name};q={max(1, error.quota or 1)}"
    if error.window:
        policy += f";w={error.window}"
    return {"RateLimit-Policy": policy, "RateLimit": f"{name};r=0;t={error.retry_after}"}

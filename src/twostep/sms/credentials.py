"""The HTTP providers' credential check: one authenticated GET that reads, sends nothing and costs nothing.

Only the answer's status is read (never its body, which may echo account details): 401/403 means the
credentials are refused; any other answer, a timeout or a lost connection says nothing about them. A
provider whose 403 also means "real credentials, but not for this read" names the error codes that say so
(`not_refusing`): of a 403 only that code is read.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx

from twostep.domain.provider_checks import CredentialAnswer
from twostep.sms import http as shared
from twostep.sms.http import Deadline

logger = logging.getLogger("twostep.sms")

# Short: readiness waits for the check only briefly, and a slow provider is failover's business.
CHECK_TIMEOUT = httpx.Timeout(3.0, connect=2.0)


def get_status(
    http: httpx.Client,
    url: str,
    *,
    provider: str,
    credentials: tuple[str, str],
    params: Mapping[str, str] | None = None,
    not_refusing: frozenset[int] = frozenset(),
) -> CredentialAnswer:
    """GET `url` with HTTP Basic auth and report its status; never raises for the network or the answer.

    `not_refusing`: the provider's error codes of a 403 that take the credentials (see the module)."""
    deadline = Deadline(CHECK_TIMEOUT)
    try:
        with http.stream(
            "GET",
            url,
            params=params,
            auth=httpx.BasicAuth(*credentials),
            headers={"Accept": "application/json"},
            extensions={"timeout": deadline},
        ) as answer:
            status = answer.status_code  # else the body is left unread: the status is the whole answer
            code = shared.error_code(shared.read_capped(answer, deadline)) if status == 403 else None
    except httpx.HTTPError as exc:
        logger.debug("sms provider credential check unanswered", extra={"provider": provider})
        return CredentialAnswer.unanswered(provider, type(exc).__name__)
    if code is not None and code in not_refusing:
        return CredentialAnswer(provider, refused=False, detail=f"HTTP {status} (code {code})")
    return CredentialAnswer.of_status(provider, status)

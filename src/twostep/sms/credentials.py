"""The HTTP providers' credential check: one authenticated GET that reads, sends nothing and costs nothing.

Only the answer's status is read (never its body, which may echo account details): 401/403 means the
credentials are refused; any other answer, a timeout or a lost connection says nothing about them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx

from twostep.domain.provider_checks import CredentialAnswer
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
) -> CredentialAnswer:
    """GET `url` with HTTP Basic auth and report its status; never raises for the network or the answer."""
    try:
        with http.stream(
            "GET",
            url,
            params=params,
            auth=httpx.BasicAuth(*credentials),
            headers={"Accept": "application/json"},
            extensions={"timeout": Deadline(CHECK_TIMEOUT)},
        ) as answer:
            status = answer.status_code  # the body is left unread: the status is the whole answer
    except httpx.HTTPError as exc:
        logger.debug("sms provider credential check unanswered", extra={"provider": provider})
        return CredentialAnswer.unanswered(provider, type(exc).__name__)
    return CredentialAnswer.of_status(provider, status)

"""Whether a provider still takes our credentials, asked by a read that sends nothing and costs nothing.

Readiness asks every configured SMS provider and the email provider (`CredentialCheck`); only a refusal
of the credentials themselves (401/403, SMTP 535, or no credentials at all) counts against them. A
timeout, a lost connection or a 5xx says nothing about the operator's credentials, so it is an answer
that is not `refused`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

REFUSING_STATUSES = frozenset({401, 403})


@dataclass(frozen=True, slots=True)
class CredentialAnswer:
    """One provider's answer to the check: `detail` is safe to log (`HTTP 401`, `ReadTimeout`)."""

    provider: str
    refused: bool
    detail: str

    @classmethod
    def of_status(cls, provider: str, status: int) -> CredentialAnswer:
        """The answer for an HTTP status: refused only for 401 and 403."""
        return cls(provider, status in REFUSING_STATUSES, f"HTTP {status}")

    @classmethod
    def unanswered(cls, provider: str, error: str) -> CredentialAnswer:
        """No answer came (`error` is the failure's type name): not the credentials' fault."""
        return cls(provider, False, error)


@runtime_checkable
class CredentialCheck(Protocol):
    """A provider that can tell, without sending anything, whether it takes our credentials."""

    name: str

    def check_credentials(self) -> CredentialAnswer:
        """Ask the provider once; never raises for the provider's answer or for a network failure."""
        ...
